"""Real sweeps on a real single-node Slurm cluster and a real HTCondor pool (the `cluster`
fixture in conftest.py: without the schedulers these tests skip, naming the script that
starts them; in CI a missing scheduler is a failure)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Project
from conftest import submissions as _submissions
from conftest import wait_jobs as _wait


def _index(project: Project) -> dict[str, Any]:
    [sweep] = project.sweeps()
    data: dict[str, Any] = json.loads((sweep / "runs_index.json").read_text())
    return data


def test_sweep_lands_in_the_target_layout(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    done = project.cli(
        "run",
        "--backend",
        backend,
        "phase1/latent_space=none,vq",
        "trainer.epochs=1",
        "--wait",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [sweep] = project.sweeps()
    index = _index(project)
    assert index["sweep"]["backend"] == backend and len(_submissions(project)) == 1
    assert {p.name for p in sweep.iterdir()} == {
        "multirun.yaml",
        "runs_index.json",
        "runptrs",
        "submit",
    }
    for job in project.status()["jobs"]:
        run_dir = Path(job["run_dir"])
        assert job["state"] == "succeeded" and job["scheduler_id"]
        assert (run_dir / "best_val.pt").is_file() and (run_dir / ".hydra").is_dir()
        assert f"cwd={run_dir}" in (run_dir / ".sweep" / "output.log").read_text()


def test_failing_job_then_resume(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    done = project.cli(
        "run", "--backend", backend, "seed=0,1", "trainer.epochs=1", "--wait", timeout=300
    )
    assert done.returncode == 1, done.stderr
    jobs = project.status()["jobs"]
    assert [(j["state"], j["exit_code"]) for j in jobs] == [("failed", 1), ("failed", 1)]
    config.write_text(config.read_text().replace("fail_at_epoch: 1", "fail_at_epoch: null"))
    resumed = project.cli("resume", "--only", "1", "--wait", timeout=300)
    assert resumed.returncode == 1, resumed.stderr  # job 0 is still failed
    submissions = _submissions(project)
    assert len(submissions) == 2  # a second submission, job 1 only
    assert list(submissions[1]["job_ids"]) == ["1"]
    jobs = project.status()["jobs"]
    assert [j["state"] for j in jobs] == ["failed", "succeeded"]
    assert jobs[1]["attempts"] == 2 and jobs[0]["attempts"] == 1


def test_cancel_a_running_sweep(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    done = project.cli(
        "run",
        "--backend",
        backend,
        "--max-parallel",
        "1",
        "seed=0,1,2",
        "trainer.epochs=60",
        "trainer.sleep=0.5",
    )
    assert done.returncode == 0, done.stderr
    assert project.cli("status").returncode == 4  # scripts poll on 4
    _wait(project, lambda jobs: any(j["state"] == "running" for j in jobs))
    cancelled = project.cli("cancel", timeout=120)
    assert cancelled.returncode == 0, cancelled.stderr
    jobs = _wait(project, lambda jobs: all(j["state"] == "cancelled" for j in jobs))
    assert len(jobs) == 3
    time.sleep(3)
    assert [j["state"] for j in project.status()["jobs"]] == ["cancelled"] * 3
    assert project.cli("cancel").returncode == 0  # idempotent


def test_hostile_value_stays_literal(cluster: tuple[str, Project], tmp_path: Path) -> None:
    backend, project = cluster
    target = Path("/tmp") / f"pwned-{os.getpid()}-{backend}"
    value = f"$(touch {target}); `touch {target}` \"q\" 'x'"
    from sweeper_cli.planning.plan import hydra_quote

    done = project.cli(
        "run",
        "--backend",
        backend,
        f"+note={hydra_quote(value)}",
        "trainer.epochs=1",
        "--wait",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert not target.exists()
    [job] = project.status()["jobs"]
    from omegaconf import OmegaConf

    assert OmegaConf.load(Path(job["run_dir"]) / ".hydra" / "config.yaml").note == value
    [sweep] = project.sweeps()
    for generated in (p for p in (sweep / "submit").rglob("*") if p.is_file()):
        assert f"touch {target}" not in generated.read_text(errors="replace")


def test_submission_refused_is_exit_3_with_the_schedulers_words(
    cluster: tuple[str, Project],
) -> None:
    backend, project = cluster
    extra = '"--constraint=no_such_feature"' if backend == "slurm" else '"requirements = ("'
    (project.root / "pyproject.toml").write_text(
        (project.root / "pyproject.toml").read_text()
        + f'\n[tool.thesis-sweep.profiles.broken]\nbackend = "{backend}"\nextra = [{extra}]\n'
    )
    done = project.cli("run", "--profile", "broken", "seed=0")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "refused the sweep" in done.stderr and len(done.stderr.strip().splitlines()) == 2
    [job] = project.status()["jobs"]
    assert job["state"] == "failed" and "not submitted" in job["reason"]


def test_missing_scheduler_command_is_exit_3(project: Project) -> None:
    env = {"PATH": os.path.dirname(os.sys.executable)}  # no sbatch, no condor_submit
    for backend in ("slurm", "htcondor"):
        done = project.cli("run", "--backend", backend, "seed=0", env=env)
        assert done.returncode == 3
        assert "not found on PATH" in done.stderr


def test_a_hostile_output_root_is_taken_literally(cluster: tuple[str, Project]) -> None:
    """Quotes, `#`, `;`, backticks and blanks in the folder names: the scheduler's files
    hold them literally (the characters they cannot hold are refused; test_faults)."""
    backend, project = cluster
    root = project.root.parent / "out 'q' #c ;x `y` (z)"
    root.mkdir(mode=0o777)
    root.chmod(0o777)
    done = project.cli(
        "run",
        "--backend",
        backend,
        "--output-root",
        str(root),
        "seed=0",
        "trainer.epochs=1",
        "--wait",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [job] = json.loads(project.cli("status", "--json", "--output-root", str(root)).stdout)["jobs"]
    assert job["state"] == "succeeded" and Path(job["run_dir"]).parent == root / "runs"
    assert (Path(job["run_dir"]) / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["multiruns", "runs"]


@pytest.mark.parametrize("cluster", ["slurm"], indirect=True)
def test_status_from_many_shells_never_loses_a_submission(cluster: tuple[str, Project]) -> None:
    """`run --backend slurm` of a big array while other shells poll status: every job keeps
    its scheduler id, and cancel reaches every one of them."""
    _, project = cluster
    import threading

    stop = threading.Event()
    codes: list[int] = []

    def poll() -> None:
        while not stop.is_set():
            if project.sweeps():
                codes.append(project.cli("status", "--json").returncode)

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    for thread in pollers:
        thread.start()
    try:
        done = project.cli(
            "run",
            "--backend",
            "slurm",
            "--max-parallel",
            "1",
            "seed=range(300)",
            "trainer.epochs=1",
            "trainer.sleep=1",
            timeout=300,
        )
    finally:
        stop.set()
        for thread in pollers:
            thread.join()
    assert done.returncode == 0, done.stderr
    assert codes and set(codes) <= {4}, codes
    jobs = project.status()["jobs"]
    assert len(jobs) == 300 and all(j["scheduler_id"] for j in jobs)
    assert len(_submissions(project)[0]["job_ids"]) == 300
    assert project.cli("cancel", timeout=120).returncode == 0
    jobs = _wait(project, lambda jobs: all(j["state"] != "queued" for j in jobs))
    assert {j["state"] for j in jobs} <= {"cancelled", "succeeded"}
    assert sum(j["state"] == "cancelled" for j in jobs) >= 290


def test_a_search_submits_each_batch_and_tries_what_hydra_tries(
    cluster: tuple[str, Project], tmp_path: Path
) -> None:
    """Hydra's Optuna sweeper config on a real scheduler: each batch of n_jobs trials is
    one submission; the trials are those of Hydra's own Optuna sweep of the same app."""
    from test_search import SEARCH, hydra_search, our_trials

    backend, project = cluster
    budget = ["hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", "trainer.epochs=1"]
    theirs = hydra_search(project, tmp_path / "hydra", *budget)
    done = project.cli("run", "--backend", backend, SEARCH, *budget, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "it runs without this terminal" in done.stderr
    watched = project.cli("status", "--watch", "--poll", "2", timeout=600)
    assert watched.returncode == 0, (watched.stdout, watched.stderr)
    [sweep] = project.sweeps()
    assert our_trials(sweep) == theirs
    assert [sorted(s["job_ids"]) for s in _submissions(project)] == [["0", "1"], ["2", "3"]]
    shown = project.status()
    assert shown["search"]["state"] == "finished"
    assert all(j["state"] == "succeeded" and j["scheduler_id"] for j in shown["jobs"])
    ours, hydra = (
        yaml.safe_load((d / "optimization_results.yaml").read_text())
        for d in (sweep, tmp_path / "hydra")
    )
    assert ours["best_params"] == hydra["best_params"]
    # the same arithmetic on another node (HTCondor's job sandbox) may differ in the last bit
    assert ours["best_value"] == pytest.approx(hydra["best_value"], rel=1e-9)
