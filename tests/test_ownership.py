"""Nothing outside a sweep is ever touched: a copied sweep folder's remove, resume and
cancel leave the original's runs alone, and a runptr that points outside the output root
makes its job `lost`, never a place where resume runs the app (real sweeps, real files)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from conftest import Project


def _sweep(project: Project, *overrides: str, code: int = 0) -> Path:
    done = project.cli("run", *overrides, "trainer.epochs=1")
    assert done.returncode == code, done.stderr
    return project.sweeps()[-1]


def _states(project: Project, sweep: str) -> list[str]:
    return [j["state"] for j in project.status(sweep)["jobs"]]


def test_a_copied_sweep_folder_never_touches_the_originals_runs(project: Project) -> None:
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    original = _sweep(project, "seed=0,1", code=1)
    copy = original.with_name(original.name + "_backup")
    shutil.copytree(original, copy, symlinks=True)  # cp -a: runptrs point at the same runs
    runs = sorted((project.outputs / "runs").iterdir())
    assert len(runs) == 2

    resumed = project.cli("resume", copy.name)
    assert resumed.returncode == 1, resumed.stderr  # the copy's jobs stay as they were
    assert "belongs to the sweep" in resumed.stderr and "nothing to resume" in resumed.stderr
    assert all(not (run / ".sweep" / "output.log.1").exists() for run in runs)  # not re-run

    dry = project.cli("remove", copy.name, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stderr.count(f"belongs to the sweep {original}") == 2
    assert "0 run dir(s)" in dry.stderr
    removed = project.cli("remove", copy.name, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert not copy.exists() and sorted((project.outputs / "runs").iterdir()) == runs
    assert _states(project, original.name) == ["failed", "failed"]  # never `lost`

    removed = project.cli("remove", original.name, "--yes")  # the original's own: deleted
    assert removed.returncode == 0, removed.stderr
    assert not original.exists() and list((project.outputs / "runs").iterdir()) == []


def test_cancel_of_a_copy_leaves_the_originals_running_job(project: Project) -> None:
    run = project.popen("run", "seed=0", "trainer.epochs=60", "trainer.sleep=0.5")
    try:
        jobs = project.wait_until(lambda jobs: jobs and jobs[0]["state"] == "running")
        original = project.sweeps()[-1]
        copy = original.with_name(original.name + "_snapshot")
        shutil.copytree(original, copy, symlinks=True)
        done = project.cli("cancel", copy.name)
        assert done.returncode == 0, done.stderr
        time.sleep(1.0)
        assert _states(project, original.name) == ["running"]
        assert not (Path(jobs[0]["run_dir"]) / ".sweep" / "cancel.json").exists()
    finally:
        run.terminate()
        run.wait(timeout=60)


def test_a_runptr_pointing_outside_the_output_root_is_lost_and_left_alone(
    project: Project, tmp_path: Path
) -> None:
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    sweep = _sweep(project, "seed=0,1", code=1)
    foreign = tmp_path / "someone_elses" / "results"
    foreign.mkdir(parents=True)
    (foreign / "thesis.pdf").write_text("precious\n")
    pointer = sweep / "runptrs" / "0"
    pointer.unlink()
    os.symlink(os.path.relpath(foreign, pointer.parent), pointer)

    jobs = project.status(sweep.name)["jobs"]
    assert jobs[0]["state"] == "lost" and "outside the sweep's output root" in jobs[0]["reason"]
    resumed = project.cli("resume", sweep.name)
    assert "job 0: skipped, its run dir" in resumed.stderr, resumed.stderr
    assert "resuming" in resumed.stderr and "job(s) 1" in resumed.stderr  # job 1 is ours
    removed = project.cli("remove", sweep.name, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "outside the sweep's output root" in removed.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.pdf"]  # nothing written
    assert (foreign / "thesis.pdf").read_text() == "precious\n"
    assert list((project.outputs / "runs").iterdir()) == [] and not sweep.exists()


def test_every_run_dir_records_its_sweep(project: Project) -> None:
    sweep = _sweep(project, "seed=0,1")
    for run in (project.outputs / "runs").iterdir():
        record = json.loads((run / ".sweep" / "owner.json").read_text())
        assert record["sweep_id"] == sweep.name
        assert (run / record["sweep_dir"]).resolve() == sweep.resolve()
