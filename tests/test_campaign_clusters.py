"""Campaigns and packs on the real Slurm cluster and HTCondor pool of this machine (the
`cluster` fixture): a campaign of two sweeps under a cap of two is one submission that the
scheduler throttles itself (checked in its own records), and `--pack 3` runs three jobs in
one scheduler job, each with its own status; a resume packs only the unfinished again."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from conftest import Project, add_profile
from conftest import submissions as newest_submissions


def _jobs(project: Project) -> list[dict[str, Any]]:
    return [j for sweep in project.sweeps() for j in project.status(str(sweep))["jobs"]]


def _submission_records(sweep: Path) -> list[dict[str, Any]]:
    files = sorted((sweep / "submit").glob("submission-*.json"), key=lambda p: int(p.stem[11:]))
    return [json.loads(f.read_text()) for f in files]


def _materialized_at_most(events: str) -> int:
    """From an HTCondor event log: the most jobs that existed at once (submitted, that is
    materialized, and not yet terminated)."""
    alive = best = 0
    for line in events.splitlines():
        code = line[:3]
        if re.match(r"^\d{3} \(", line) and code in ("000", "005", "009"):
            alive += 1 if code == "000" else -1
            best = max(best, alive)
    return best


def _watch_slurm(array_id: str, until: float) -> tuple[int, set[str]]:
    """Poll squeue for the array: the most tasks seen running at once, and the reasons
    pending tasks gave."""
    most, reasons = 0, set()
    while time.monotonic() < until:
        done = subprocess.run(
            ["squeue", "-h", "-r", "-j", array_id, "-o", "%t|%r"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        rows = [line.split("|") for line in done.stdout.split()]
        if done.returncode != 0 or not rows:
            break
        most = max(most, sum(1 for state, _ in rows if state == "R"))
        reasons |= {why for state, why in rows if state == "PD"}
        time.sleep(0.3)
    return most, reasons


def test_campaign_of_two_sweeps_under_a_cap_of_two(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    (project.root / "queue.txt").write_text("seed=0,1 --name first\nseed=2,3 --name second\n")
    started = time.monotonic()
    done = project.cli(
        "campaign", "run", "queue.txt", "--backend", backend, "--max-running", "2",
        "trainer.epochs=4", "trainer.sleep=1", timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "at most 2 at once" in done.stderr
    record = json.loads((project.outputs / "campaigns" / "queue" / "campaign.json").read_text())
    [submitted] = record["submissions"]
    assert (submitted["backend"], submitted["jobs"], submitted["cap"]) == (backend, 4, 2)
    sweeps = project.sweeps()
    assert len(sweeps) == 2
    for sweep in sweeps:  # one submission holds both sweeps' jobs
        [mine] = _submission_records(sweep)
        assert mine["scheduler_id"] == submitted["scheduler_id"] and len(mine["job_ids"]) == 2
    submit = project.outputs / "campaigns" / "queue" / "submit"
    if backend == "slurm":
        array = submitted["scheduler_id"]
        shown = subprocess.run(
            ["scontrol", "show", "job", array], capture_output=True, text=True, timeout=30
        ).stdout
        assert "ArrayTaskThrottle=2" in shown
        most, reasons = _watch_slurm(array, started + 240)
        assert most <= 2 and "JobArrayTaskLimit" in reasons  # Slurm held them back itself
    else:
        assert "max_materialize = 2" in (submit / "sweep-1.sub").read_text()
    deadline = time.monotonic() + 300
    while True:
        status = project.cli("campaign", "status", "queue.txt", "--json")
        if status.returncode != 4:
            break
        assert time.monotonic() < deadline, status.stdout
        time.sleep(1)
    assert status.returncode == 0, status.stdout
    assert [r["state"] for r in json.loads(status.stdout)["lines"]] == ["COMPLETE"] * 2
    if backend == "htcondor":  # the pool's own record: never more than 2 jobs existed
        assert _materialized_at_most((submit / "events-1.log").read_text()) == 2
    finished = _jobs(project)
    assert {j["state"] for j in finished} == {"succeeded"} and len(finished) == 4
    again = project.cli("campaign", "run", "queue.txt", "--backend", backend, "trainer.epochs=4",
                        "trainer.sleep=1")  # fmt: skip
    assert again.returncode == 0 and "nothing to launch" in again.stderr, again.stderr


def _times(job: dict[str, Any]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(job["start"]), datetime.fromisoformat(job["end"])


def test_pack_of_three_then_resume_packs_only_the_unfinished(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    trainer = project.root / "configs" / "trainer"
    flaky = trainer / "flaky.yaml"
    shutil.copy(trainer / "default.yaml", flaky)
    flaky.write_text(flaky.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    done = project.cli(
        "run", "--backend", backend, "--pack", "3", "trainer=default,flaky", "seed=0,1",
        "trainer.epochs=1", "--wait", timeout=400,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    jobs = project.status()["jobs"]
    assert [j["state"] for j in jobs] == ["succeeded", "succeeded", "failed", "failed"]
    [first] = newest_submissions(project)
    assert first["pack"] == 3 and first["tasks"] == {"0": 0, "1": 0, "2": 0, "3": 1}
    ids = [first["job_ids"][str(n)] for n in range(4)]
    assert ids[0] == ids[1] == ids[2] != ids[3]  # three runs in one scheduler job
    assert len({j["run_dir"] for j in jobs}) == 4 and {j["attempts"] for j in jobs} == {1}
    for before, after in itertools.pairwise(jobs[:3]):
        assert _times(before)[1] <= _times(after)[0]  # one after another
    for job in jobs:
        assert Path(job["run_dir"], ".sweep", "output.log").is_file()

    flaky.write_text(flaky.read_text().replace("fail_at_epoch: 1", "fail_at_epoch: null"))
    resumed = project.cli("resume", "--wait", timeout=400)
    assert resumed.returncode == 0, resumed.stderr
    second = newest_submissions(project)[-1]
    assert sorted(second["job_ids"]) == ["2", "3"] and second["pack"] == 3
    assert second["tasks"] == {"2": 0, "3": 0}  # the two unfinished jobs, packed again
    assert second["job_ids"]["2"] == second["job_ids"]["3"]
    jobs = project.status()["jobs"]
    assert [(j["state"], j["attempts"]) for j in jobs] == [
        ("succeeded", 1),
        ("succeeded", 1),
        ("succeeded", 2),
        ("succeeded", 2),
    ]


def test_campaign_in_packs_asks_for_the_time_of_its_jobs(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    add_profile(project, "short", f'backend = "{backend}"\ntime = "00:05:00"')
    (project.root / "queue.txt").write_text("seed=0,1 --name p\nseed=2,3 --name q\n")
    done = project.cli(
        "campaign", "run", "queue.txt", "--profile", "short", "--pack", "2",
        "--max-running", "1", "trainer.epochs=1", timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "in 2 packs of up to 2" in done.stderr
    submit = project.outputs / "campaigns" / "queue" / "submit"
    if backend == "slurm":
        text = (submit / "sweep-1.sbatch").read_text()
        assert "#SBATCH --time=00:10:00" in text and "#SBATCH --array=0-1%1" in text
    else:
        text = (submit / "sweep-1.sub").read_text()
        assert "allowed_job_duration = 600" in text and "max_materialize = 1" in text
    deadline = time.monotonic() + 300
    while project.cli("campaign", "status", "queue.txt").returncode == 4:
        assert time.monotonic() < deadline
        time.sleep(1)
    assert project.cli("campaign", "status", "queue.txt").returncode == 0
    packs = []
    for sweep in project.sweeps():
        [mine] = _submission_records(sweep)
        assert mine["pack"] == 2 and mine["profile"]["time"] == "00:05:00"  # each job's own
        packs.append(set(mine["job_ids"].values()))
    assert all(len(ids) == 1 for ids in packs) and packs[0] != packs[1]  # a pack per sweep
