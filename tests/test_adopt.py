"""`thesis-sweep adopt` on folders made by Hydra's own `--multirun` of the example app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import Project, raw_status, run_hydra_app
from sweeper_cli.planning.naming import TIMESTAMP_FORMAT
from sweeper_cli.results import adopt, moves
from sweeper_cli.store import jobfiles, layout

OLD_SWEEP = ["-m", "hydra=experiment", "seed=0,1", "trainer.epochs=1"]


def hydra_multirun(project: Project, *extra: str) -> Path:
    """Run the example app with Hydra's own --multirun; return its multirun folder."""
    done = run_hydra_app(project.root, [*OLD_SWEEP, *extra])
    [folder] = (project.outputs / "multiruns").iterdir()
    assert folder.name.startswith("exp_") and folder.name.endswith("_experiment"), folder
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["0", "1"], done.stderr
    return folder


def snapshot(root: Path) -> dict[str, int]:
    """Every path under `root` with its size (folders: -1)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1)
        for p in sorted(root.rglob("*"))
    }


def run_dirs(project: Project) -> list[Path]:
    runs = project.outputs / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def test_dry_run_shows_the_moves_and_changes_nothing(project: Project) -> None:
    folder = hydra_multirun(project)
    before = snapshot(project.outputs)
    done = project.cli("adopt", str(folder), "--dry-run", check=0)
    stamp = folder.name.split("_")[1]
    for num in (0, 1):
        target = project.outputs / "runs" / f"run_{stamp}_experiment_job{num}"
        assert f"{num}/ -> {target}  [succeeded]" in done.stdout
    assert snapshot(project.outputs) == before


def test_adopt_then_status_and_compare_work(project: Project) -> None:
    folder = hydra_multirun(project)
    metrics = {n: (folder / str(n) / "facts" / "metrics.json").read_text() for n in (0, 1)}
    project.cli("adopt", str(folder), check=0)
    stamp = folder.name.split("_")[1]
    targets = [project.outputs / "runs" / f"run_{stamp}_experiment_job{n}" for n in (0, 1)]
    assert run_dirs(project) == targets
    # The multirun folder is metadata-only, as if thesis-sweep had run the sweep.
    assert sorted(p.name for p in folder.iterdir()) == [
        "multirun.yaml",
        "runptrs",
        "runs_index.json",
    ]
    for num, target in enumerate(targets):
        assert jobfiles.read_runptr(folder, num) == target.resolve()
        assert (target / "facts" / "metrics.json").read_text() == metrics[num]
        assert (target / ".hydra" / "overrides.yaml").is_file()
        record = raw_status(target)
        assert record["state"] == "succeeded" and record["attempt"] == 1
        assert record["host"] is None

    index = json.loads((folder / layout.INDEX_FILE).read_text())
    assert index["sweep"]["swept_keys"] == ["seed"]
    assert index["sweep"]["name"] == "experiment"
    assert index["sweep"]["created"].startswith(
        f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}"
    )
    assert [j["overrides"] for j in index["jobs"]] == [
        ["hydra=experiment", "seed=0", "trainer.epochs=1"],
        ["hydra=experiment", "seed=1", "trainer.epochs=1"],
    ]

    status = project.status(folder.name)
    assert [(j["num"], j["state"]) for j in status["jobs"]] == [(0, "succeeded"), (1, "succeeded")]
    assert project.cli("status", folder.name).returncode == 0
    doc = json.loads(project.cli("compare", "--json", folder.name, check=0).stdout)
    assert doc["params"] == ["seed"]
    assert [(r["seed"], r["state"]) for r in doc["rows"]] == [
        ("0", "succeeded"),
        ("1", "succeeded"),
    ]
    assert [r["val_loss"] for r in doc["rows"]] == [
        json.loads(metrics[n])["val_loss"] for n in (0, 1)
    ]
    # A second adopt of the same folder is refused: it is a thesis-sweep sweep now.
    again = project.cli("adopt", str(folder), check=2)
    assert "already has a runs_index.json" in again.stderr


def test_failed_job_is_recorded_failed(project: Project) -> None:
    # seed=1 raises at epoch 1, before it writes anything: only .hydra/ and its log remain.
    folder = hydra_multirun(project, "trainer.fail_at_epoch=${seed}")
    assert sorted(p.name for p in (folder / "1").iterdir()) == [".hydra", "experiment.log"]
    project.cli("adopt", str(folder), check=0)
    status = project.status(folder.name)
    assert [j["state"] for j in status["jobs"]] == ["succeeded", "failed"]
    assert "nothing beyond .hydra" in status["jobs"][1]["reason"]
    assert project.cli("status", folder.name).returncode == 1


def test_success_file_decides_when_given(project: Project) -> None:
    folder = hydra_multirun(project)
    (folder / "1" / "facts" / "metrics.json").unlink()
    project.cli("adopt", str(folder), "--success-file", "facts/metrics.json", check=0)
    assert [j["state"] for j in project.status(folder.name)["jobs"]] == ["succeeded", "failed"]


def test_refuses_an_existing_target_and_moves_nothing(project: Project) -> None:
    folder = hydra_multirun(project)
    stamp = folder.name.split("_")[1]
    taken = project.outputs / "runs" / f"run_{stamp}_experiment_job1"
    taken.mkdir(parents=True)
    before = snapshot(project.outputs)
    done = project.cli("adopt", str(folder), check=2)
    assert done.stderr.strip() == f"thesis-sweep: error: target {taken} exists: nothing was moved"
    assert snapshot(project.outputs) == before


def test_refuses_what_is_not_a_hydra_multirun(project: Project, tmp_path: Path) -> None:
    plain = tmp_path / "multiruns" / "exp_20260101-000000_x"
    (plain / "0").mkdir(parents=True)
    done = project.cli("adopt", str(plain), check=2)
    assert "no multirun.yaml" in done.stderr
    (plain / "multirun.yaml").write_text("hydra:\n  overrides:\n    task: []\n")
    done = project.cli("adopt", str(plain), check=2)
    assert "no numbered job folders with .hydra/" in done.stderr
    # A single run (no multirun.yaml) is refused too.
    run_hydra_app(project.root, ["trainer.epochs=1"])
    [single] = (project.outputs / "runs").iterdir()
    assert "no multirun.yaml" in project.cli("adopt", str(single), check=2).stderr
    assert sorted(p.name for p in plain.iterdir()) == ["0", "multirun.yaml"]


def test_elsewhere_needs_output_root_and_name_from_flag(project: Project, tmp_path: Path) -> None:
    folder = hydra_multirun(project)
    odd = tmp_path / "old" / "2026-01-01" / "14-30-00"
    odd.parent.mkdir(parents=True)
    os.rename(folder, odd)
    done = project.cli("adopt", str(odd), check=2)
    assert "pass --output-root" in done.stderr
    root = tmp_path / "results"
    project.cli("adopt", str(odd), "--output-root", str(root), "--name", "old_lr", check=0)
    mtime = (odd / "multirun.yaml").stat().st_mtime
    stamp = datetime.fromtimestamp(mtime).strftime(TIMESTAMP_FORMAT)
    assert sorted(p.name for p in (root / "runs").iterdir()) == [
        f"run_{stamp}_old_lr_job0",
        f"run_{stamp}_old_lr_job1",
    ]
    doc = json.loads(project.cli("compare", "--json", str(odd), check=0).stdout)
    assert [r["state"] for r in doc["rows"]] == ["succeeded", "succeeded"]


def test_interrupted_adopt_finishes_when_run_again(project: Project) -> None:
    folder = hydra_multirun(project)
    plan = adopt.plan_adoption(folder, None, None, "run_{ts}_{name}_job{num}")
    # As if killed after the plan was saved and job 0 was moved:
    adopt.write_plan(plan)
    assert adopt.move_job(plan, plan.jobs[0]) == "rename"
    assert (folder / adopt.PLAN_FILE).is_file() and not (folder / "0").exists()
    # Flags that would change the saved plan are refused.
    refused = project.cli("adopt", str(folder), "--name", "x", check=2)
    assert "used --name experiment" in refused.stderr
    done = project.cli("adopt", str(folder), check=0)
    assert "finishing an interrupted adopt" in done.stderr
    assert "job 0: already moved" in done.stderr and "job 1: moved" in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == [
        "multirun.yaml",
        "runptrs",
        "runs_index.json",
    ]
    assert [j["state"] for j in project.status(folder.name)["jobs"]] == ["succeeded"] * 2


def test_interrupted_copy_across_file_systems_is_finished(tmp_path: Path) -> None:
    """moves: each crash point of copy + verify + delete is finished by a second call."""
    source = tmp_path / "src" / "0"
    (source / ".hydra").mkdir(parents=True)
    (source / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    (source / "facts.json").write_text("{}")
    want = snapshot(source)
    target = tmp_path / "runs" / "run_job0"
    target.parent.mkdir()
    # Crash during the copy: a partial temp copy, the source intact.
    moves.temp_for(target).mkdir()
    (moves.temp_for(target) / "partial").write_text("x")
    moves.copy_verify_delete(source, target)
    assert snapshot(target) == want and not source.exists()
    # Crash after the source went to the trash, before the copy took its place.
    os.rename(target, moves.temp_for(target))
    source.mkdir()
    os.rename(source, moves.trash_for(source))
    assert moves.move_tree(source, target) == "done"
    assert snapshot(target) == want
    assert not moves.trash_for(source).exists() and not moves.temp_for(target).exists()


def test_verify_refuses_a_copy_that_differs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("12")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("1")
    with pytest.raises(moves.VerifyError, match="f differs in size"):
        moves.verify_copy(tmp_path / "a", tmp_path / "b")


def test_adopt_across_file_systems(project: Project) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == project.root.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's tmp dir")
    folder = hydra_multirun(project)
    want = {n: snapshot(folder / str(n)) for n in (0, 1)}
    with tempfile.TemporaryDirectory(dir=shm) as other:
        project.cli("adopt", str(folder), "--output-root", other, check=0)
        runs = sorted((Path(other) / "runs").iterdir())
        assert len(runs) == 2
        for num, run in enumerate(runs):
            got = snapshot(run)
            assert {k: v for k, v in got.items() if not k.startswith(".sweep")} == want[num]
        assert not (folder / "0").exists() and not (folder / "1").exists()
        assert [j["state"] for j in project.status(str(folder))["jobs"]] == ["succeeded"] * 2


def test_resume_refuses_an_adopted_sweep(project: Project) -> None:
    folder = hydra_multirun(project)
    project.cli("adopt", str(folder), check=0)
    status_before = [raw_status(d)["state"] for d in run_dirs(project)]
    done = project.cli("resume", str(folder))
    assert done.returncode == 2 and "adopted from a Hydra --multirun" in done.stderr
    assert [raw_status(d)["state"] for d in run_dirs(project)] == status_before


def test_refuses_a_multirun_that_still_runs_and_moves_nothing(project: Project) -> None:
    env = {**os.environ, "PYTHONPATH": str(project.root / "examples")}
    slow = ["trainer.epochs=40", "trainer.sleep=0.25"]
    hydra = subprocess.Popen(
        [sys.executable, "-m", "thesis_ml.train", *OLD_SWEEP[:-1], *slow],
        cwd=project.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(project.outputs.glob("multiruns/*/0")):
            time.sleep(0.1)
        [folder] = (project.outputs / "multiruns").iterdir()
        before = snapshot(folder)
        done = project.cli("adopt", str(folder))
        assert done.returncode == 2, done.stderr
        assert "is still being written, a live process works in it: pid" in done.stderr
        assert str(hydra.pid) in done.stderr and "nothing was moved" in done.stderr
        assert not (folder / "runs_index.json").exists() and run_dirs(project) == []
        assert set(before) <= set(snapshot(folder))  # the job folders stayed where they are
    finally:
        hydra.kill()
        hydra.wait()
    done = project.cli("adopt", str(folder))  # ended (killed): now it may be taken in
    assert done.returncode == 0, done.stderr
