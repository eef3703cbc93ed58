"""Sweep lifecycle with real processes: kill, resume, cancel, logs, list, watch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Project

LONG = ["trainer.epochs=40", "trainer.sleep=0.25"]  # ~10 s unless stopped


def wait_until(
    project: Project, test: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    return project.wait_until(test, timeout)


def states(project: Project, sweep: str | None = None) -> list[str]:
    return [j["state"] for j in project.status(sweep)["jobs"]]


def attempts(job: dict[str, Any]) -> int:
    return int(json.loads((Path(job["run_dir"]) / ".sweep" / "status.json").read_text())["attempt"])


def test_kill_9_of_the_orchestrator_then_resume(project: Project) -> None:
    proc = project.popen(
        "run", "-j", "2", "seed=0,1,2,3", "trainer.epochs=12", "trainer.sleep=0.25"
    )
    wait_until(project, lambda jobs: [j["state"] for j in jobs].count("running") == 2)
    proc.kill()
    proc.wait()
    [sweep] = project.sweeps()
    json.loads((sweep / "runs_index.json").read_text())  # always valid JSON
    now = states(project)
    assert now[:2] == ["running", "running"]  # runners outlive the orchestrator
    assert now[2:] == ["lost", "lost"]  # never started, and nobody left to start them
    jobs = wait_until(
        project, lambda jobs: jobs[0]["state"] == "succeeded" and jobs[1]["state"] == "succeeded"
    )
    assert "never started" in jobs[2]["reason"]
    done = project.cli("resume", "-j", "2")
    assert done.returncode == 0, done.stderr
    assert "job(s) 2, 3" in done.stderr
    jobs = project.status()["jobs"]
    assert [j["state"] for j in jobs] == ["succeeded"] * 4
    assert [attempts(j) for j in jobs] == [1, 1, 1, 1]  # nothing ran twice
    again = project.cli("resume")
    assert again.returncode == 0 and "nothing to resume" in again.stderr


def test_fix_the_bug_then_resume_in_the_same_run_dirs(project: Project) -> None:
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 2"))
    assert project.cli("run", "seed=0,1", "trainer.epochs=3").returncode == 1
    before = project.status()["jobs"]
    assert [j["state"] for j in before] == ["failed", "failed"]
    config.write_text(config.read_text().replace("fail_at_epoch: 2", "fail_at_epoch: null"))
    done = project.cli("resume", "--failed-only", "--only", "1")
    assert done.returncode == 1, done.stderr  # job 0 is still failed
    after = project.status()["jobs"]
    assert [j["state"] for j in after] == ["failed", "succeeded"]
    assert [j["run_dir"] for j in after] == [j["run_dir"] for j in before]
    sweep_meta = Path(after[1]["run_dir"]) / ".sweep"
    assert attempts(after[1]) == 2
    assert "simulated failure" in (sweep_meta / "output.log.1").read_text()
    assert "resuming from checkpoint" in (sweep_meta / "output.log").read_text()
    assert project.cli("resume").returncode == 0
    assert states(project) == ["succeeded", "succeeded"]


def test_resume_refuses_when_the_sweep_plans_differently(project: Project) -> None:
    project.cli(
        "run", "phase1/latent_space=glob(*)", "trainer.fail_at_epoch=1", "trainer.epochs=1", check=1
    )
    extra = project.root / "configs" / "phase1" / "latent_space" / "ae.yaml"
    extra.write_text("name: ae\ncodebook_size: 0\ncommitment: 0.0\n")
    done = project.cli("resume")
    assert done.returncode == 2
    assert "no longer plans the same jobs" in done.stderr and "--force" in done.stderr
    assert all(attempts(j) == 1 for j in project.status()["jobs"])
    forced = project.cli("resume", "--force")
    assert forced.returncode == 1  # relaunched (and failed again, as configured)
    assert all(attempts(j) == 2 for j in project.status()["jobs"])


def test_resume_warns_about_git_drift_and_strict_refuses(project: Project) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=project.root, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "a")
    project.cli("run", "seed=0", "trainer.fail_at_epoch=1", check=1)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "b")
    strict = project.cli("resume", "--strict")
    assert strict.returncode == 2 and "git commit changed" in strict.stderr
    lax = project.cli("resume")
    assert lax.returncode == 1 and "warning: git commit changed" in lax.stderr


def test_cancel_a_running_sweep(project: Project) -> None:
    proc = project.popen("run", "seed=0,1,2", *LONG)
    jobs = wait_until(project, lambda jobs: jobs[0]["state"] == "running")
    child = json.loads((Path(jobs[0]["run_dir"]) / ".sweep" / "status.json").read_text())["pid"]
    done = project.cli("cancel")
    assert done.returncode == 0, done.stderr
    assert "cancelled job(s) 0, 1, 2" in done.stderr
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert states(project) == ["cancelled"] * 3
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    again = project.cli("cancel")
    assert again.returncode == 0 and "nothing to cancel" in again.stderr
    assert states(project) == ["cancelled"] * 3
    resumed = project.cli("resume", "--only", "2")
    assert resumed.returncode == 1  # the sweep as a whole still has cancelled jobs
    assert states(project) == ["cancelled", "cancelled", "succeeded"]


def test_cancel_only_the_named_jobs(project: Project) -> None:
    proc = project.popen("run", "-j", "2", "seed=0,1", "trainer.epochs=8", "trainer.sleep=0.25")
    wait_until(project, lambda jobs: all(j["state"] == "running" for j in jobs))
    assert project.cli("cancel", project.sweeps()[0].name, "1").returncode == 0
    proc.communicate(timeout=60)
    assert states(project) == ["succeeded", "cancelled"]


def test_resume_refuses_while_the_sweep_is_being_launched(project: Project) -> None:
    proc = project.popen("run", "seed=0,1", *LONG)
    wait_until(project, lambda jobs: jobs[0]["state"] == "running")
    done = project.cli("resume")
    assert done.returncode == 2 and "another thesis-sweep process" in done.stderr
    project.cli("cancel", check=0)
    proc.communicate(timeout=60)


def test_second_ctrl_c_kills_at_once(project: Project) -> None:
    proc = project.popen(
        "run",
        "seed=0",
        "trainer.ignore_sigterm=true",
        *LONG,
        env={**os.environ, "THESIS_SWEEP_GRACE": "60"},
    )
    wait_until(project, lambda jobs: jobs[0]["state"] == "running")
    time.sleep(1.0)  # let the app install its SIGTERM handler
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None  # the job traps SIGTERM: still in its grace period
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - started < 10
    job = project.status()["jobs"][0]
    assert job["state"] == "cancelled" and job["signal"] == "SIGKILL"


def test_logs_tail_and_follow(project: Project) -> None:
    proc = project.popen("run", "seed=0", "trainer.epochs=6", "trainer.sleep=0.3")
    wait_until(project, lambda jobs: jobs[0]["state"] == "running")
    name = project.sweeps()[0].name
    follow = project.cli("logs", name, "0", "--follow", timeout=60)
    assert follow.returncode == 0
    assert "cwd=" in follow.stdout and "epoch 6" in follow.stdout.lower()
    proc.communicate(timeout=60)
    whole = project.cli("logs", name, "0", check=0).stdout
    tail = project.cli("logs", name, "0", "--tail", "2", check=0).stdout
    assert tail.splitlines() == whole.splitlines()[-2:]
    assert project.cli("logs", name, "7").returncode == 2


def test_list_and_watch(project: Project) -> None:
    project.cli("run", "seed=0", "trainer.epochs=1", check=0)
    time.sleep(1.1)
    proc = project.popen("run", "seed=0,1", "trainer.epochs=4", "trainer.sleep=0.3")
    wait_until(project, lambda jobs: len(jobs) == 2)
    watch = project.cli("status", "--watch", "--interval", "0.3", timeout=60)
    assert watch.returncode == 0 and "2 succeeded" in watch.stdout
    proc.communicate(timeout=60)
    doc = json.loads(project.cli("list", "--json", check=0).stdout)
    assert [s["jobs"] for s in doc["sweeps"]] == [2, 1]  # newest first
    assert doc["sweeps"][0]["counts"]["succeeded"] == 2
    assert "2 sweep(s)" in project.cli("list", check=0).stdout


def test_broken_run_dirs_are_reported_per_job(project: Project) -> None:
    project.cli("run", "seed=0,1,2", "trainer.epochs=1", check=0)
    jobs = project.status()["jobs"]
    import shutil

    shutil.rmtree(jobs[0]["run_dir"])
    (Path(jobs[1]["run_dir"]) / ".sweep" / "status.json").write_text("{half")
    done = project.cli("status", "--json")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert [(j["state"], j["reason"]) for j in doc["jobs"]] == [
        ("lost", "run dir is missing"),
        ("lost", "status.json is unreadable (JSONDecodeError)"),
        ("succeeded", None),
    ]
    table = project.cli("status")
    assert table.returncode == 1 and "run dir is missing" in table.stdout
