"""Cluster life against the real schedulers: restarts are new attempts, limits are named,
resume raises resources, HTCondor's checkpoint exit code continues a job.

The `cluster` fixture (conftest.py) gives a project on real Slurm (with accounting in
slurmdbd and cgroup memory limits) and on a real HTCondor pool (memory and duration
policies); scripts/ci/*-up.sh set both up.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, add_profile, require_scheduler, submissions, wait_jobs

LONG = ["trainer.epochs=60", "trainer.sleep=0.5"]  # ~30 s unless stopped


def scheduler(*argv: str) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def job_json(project: Project, num: int = 0) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = project.status()["jobs"]
    return jobs[num]


def _evidence(project: Project, job: dict[str, Any]) -> str:
    """What the job's folders hold, for a failure message."""
    meta = Path(job["run_dir"]) / ".sweep"
    texts = [json.dumps(job)]
    for path in sorted(meta.iterdir()) + sorted((project.sweeps()[-1] / "submit").glob("*.out")):
        texts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(texts)


def test_a_schedulers_restart_is_a_new_attempt_not_a_cancel(
    cluster: tuple[str, Project],
) -> None:
    """HTCondor hold + release, Slurm requeue: the job runs again in its run dir as
    attempt 2 and ends succeeded; the first attempt's output is kept."""
    backend, project = cluster
    done = project.cli("run", "--backend", backend, "seed=0", *LONG)
    assert done.returncode == 0, done.stderr
    job = wait_jobs(project, lambda jobs: jobs[0]["state"] == "running")[0]
    sid = job["scheduler_id"]
    time.sleep(2)  # let the app get going
    if backend == "htcondor":
        scheduler("condor_hold", sid)
        held = wait_jobs(project, lambda jobs: jobs[0]["cause"] == "held", timeout=60)[0]
        assert held["state"] == "queued" and "condor_hold" in held["reason"]
        scheduler("condor_release", sid)
    else:
        scheduler("scontrol", "requeue", sid)
        # REQUEUED first (the old run is still ending), then PENDING: only then may it start.
        again = wait_jobs(
            project, lambda jobs: "slurm pending" in str(jobs[0]["reason"]), timeout=60
        )[0]
        assert again["state"] == "queued" and again["cause"] == "preempted", again
        assert again["reason"].startswith("attempt 1 was stopped: "), again
        # Slurm holds a requeued task back for 120 s (EligibleTime): start it now.
        scheduler("scontrol", "update", f"JobId={sid}", "StartTime=now")
    final = wait_jobs(
        project,
        lambda jobs: jobs[0]["state"] in ("succeeded", "failed", "cancelled", "lost"),
        timeout=240,
    )[0]
    assert final["state"] == "succeeded" and final["attempts"] == 2, _evidence(project, final)
    meta = Path(final["run_dir"]) / ".sweep"
    assert (meta / "output.log.1").is_file() and (meta / "output.log").is_file()
    assert "resuming from checkpoint" in (meta / "output.log").read_text()


def test_limits_are_named_and_resume_raises_the_memory(cluster: tuple[str, Project]) -> None:
    """One sweep: job 0 runs past its time limit, job 1 past its memory. Both are failed
    with the limit named; `resume --cause oom --memory x2` resubmits job 1 alone with twice
    the memory, as the submission file and the scheduler itself show."""
    backend, project = cluster
    limit = '"1"' if backend == "slurm" else '"0:30"'  # Slurm counts minutes
    add_profile(project, "tight", f'backend = "{backend}"\ntime = {limit}\nmemory = "300M"')
    done = project.cli(
        "run",
        "--profile",
        "tight",
        "trainer.hold_memory_mb=0,900",
        "trainer.epochs=400",
        "trainer.sleep=1",
    )
    assert done.returncode == 0, done.stderr
    jobs = wait_jobs(project, lambda jobs: all(j["state"] == "failed" for j in jobs), timeout=240)
    assert [j["cause"] for j in jobs] == ["time_limit", "out_of_memory"], jobs
    assert "time limit" in jobs[0]["reason"] and "memory" in jobs[1]["reason"]
    assert jobs[1]["resources"]["memory"] == "300M"
    listed = project.cli("list").stdout
    assert "out of memory 1" in listed and "time limit 1" in listed
    if backend == "slurm":
        _check_without_accounting(project)

    resumed = project.cli("resume", "--cause", "oom", "--memory", "x2")
    assert resumed.returncode == 0, resumed.stderr
    assert "job(s) 1" in resumed.stderr and "job 0: skipped" in resumed.stderr
    [_first, second] = submissions(project)
    assert list(second["job_ids"]) == ["1"] and second["profile"]["memory"] == "600M"
    sweep = project.sweeps()[-1]
    sid = second["job_ids"]["1"]
    if backend == "slurm":
        assert "#SBATCH --mem=600M\n" in (sweep / "submit" / "sweep-2.sbatch").read_text()
        assert "MinMemoryNode=600M" in scheduler("scontrol", "show", "job", sid)
    else:
        assert "request_memory = 600M\n" in (sweep / "submit" / "sweep-2.sub").read_text()
        assert scheduler("condor_q", sid, "-af", "RequestMemory").split() == ["600"]
    job = job_json(project, 1)
    assert job["resources"]["memory"] == "600M"
    assert [s["resources"]["memory"] for s in job["submissions"]] == ["300M", "600M"]
    project.cli("cancel", check=0)


def _check_without_accounting(project: Project) -> None:
    """The same answers from squeue when slurmdbd is down (clusters without accounting)."""
    subprocess.run(["pkill", "-x", "slurmdbd"], check=False)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(["sacct", "-n", "-j", "1"], capture_output=True, timeout=30)
            if probe.returncode != 0:
                break
            time.sleep(0.2)
        jobs = project.status()["jobs"]
        assert [j["cause"] for j in jobs] == ["time_limit", "out_of_memory"], jobs
    finally:
        subprocess.run(
            ["bash", "scripts/ci/slurm-up.sh"],
            cwd=Path(__file__).parents[1],
            check=True,
            capture_output=True,
        )


def test_checkpoint_exit_code_continues_the_job() -> None:
    """HTCondor's checkpoint_exit_code: the app exits 85 after saving its checkpoint, the
    pool runs it again at once, and it continues from the checkpoint in its run dir."""
    require_scheduler("htcondor")
    import shutil
    import tempfile

    from conftest import make_project

    base = Path(tempfile.mkdtemp(prefix="ts-cluster-", dir="/tmp"))
    base.chmod(0o777)
    try:
        project = make_project(base / "proj")
        subprocess.run(["chmod", "-R", "a+rwX", str(base)], check=True)
        project.umask = 0o000
        add_profile(project, "pool", 'backend = "htcondor"\ncheckpoint_exit_code = 85')
        done = project.cli(
            "run",
            "--profile",
            "pool",
            "trainer.epochs=4",
            "trainer.stop_at_epoch=2",
            "--wait",
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        job = job_json(project)
        assert job["state"] == "succeeded" and job["attempts"] == 2
        meta = Path(job["run_dir"]) / ".sweep"
        assert "stopping at epoch 2 with exit code 85" in (meta / "output.log.1").read_text()
        assert "resuming from checkpoint" in (meta / "output.log").read_text()
        metrics = json.loads((Path(job["run_dir"]) / "facts" / "metrics.json").read_text())
        assert metrics["resumed_from_epoch"] == 2 and metrics["epochs"] == 4
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("cluster", ["slurm"], indirect=True)
def test_a_users_cancel_is_still_a_cancel(cluster: tuple[str, Project]) -> None:
    _, project = cluster
    assert project.cli("run", "--backend", "slurm", "seed=0", *LONG).returncode == 0
    wait_jobs(project, lambda jobs: jobs[0]["state"] == "running")
    assert project.cli("cancel").returncode == 0
    job = wait_jobs(project, lambda jobs: jobs[0]["state"] == "cancelled")[0]
    assert job["cause"] == "cancelled" and job["reason"] == "cancelled by the user"


@pytest.mark.parametrize("cluster", ["slurm"], indirect=True)
def test_watch_asks_the_scheduler_at_most_once_per_poll(
    cluster: tuple[str, Project], tmp_path: Path
) -> None:
    """`status --watch` reads the run dirs at every refresh but asks the scheduler at most
    once per --poll interval, whatever the sweep's size (counted at the real commands)."""
    _, project = cluster
    shims = tmp_path / "shims"
    shims.mkdir()
    calls = tmp_path / "calls.log"
    for command in ("sacct", "squeue", "condor_q", "condor_history"):
        real = subprocess.run(["which", command], capture_output=True, text=True).stdout.strip()
        if real:
            shim = shims / command
            shim.write_text(f'#!/bin/bash\necho {command} >> {calls}\nexec {real} "$@"\n')
            shim.chmod(0o755)
    done = project.cli(
        "run", "--backend", "slurm", "--max-parallel", "1", "seed=range(40)", "trainer.epochs=1"
    )
    assert done.returncode == 0, done.stderr
    env = {"PATH": f"{shims}:{os.environ['PATH']}"}
    started = time.monotonic()
    watch = project.cli(
        "status", "--watch", "--json", "--interval", "0.2", "--poll", "3", env=env, timeout=600
    )
    took = time.monotonic() - started
    assert watch.returncode in (0, 1), watch.stderr
    asked = calls.read_text().splitlines() if calls.exists() else []
    assert len(asked) <= took / 3 + 2, (len(asked), took)
    assert set(asked) <= {"sacct"}  # accounting answers alone: one call per poll
