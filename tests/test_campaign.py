"""Campaigns locally, with real processes: a queue file's lines as sweeps under one pool of
N slots, the rerun that launches nothing, the rerun that relaunches only a failed job,
`campaign status` and its exit codes, `campaign cancel`, and bad input refused before
anything is written."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, raw_status

QUEUE = """\
# chapter 5: three experiments
phase1/latent_space=none seed=0,1 --name ch5_none
phase1/latent_space=vq seed=0,1     # the quantised one

'seed=range(2)' --name plain
"""
SLOW = ("trainer.epochs=2", "trainer.sleep=0.5")


def campaign_status(project: Project, queue: str = "queue.txt") -> tuple[int, dict[str, Any]]:
    done = project.cli("campaign", "status", queue, "--json")
    assert done.returncode in (0, 1, 4), done.stderr
    return done.returncode, json.loads(done.stdout)


def all_jobs(project: Project) -> list[dict[str, Any]]:
    jobs = []
    for sweep in project.sweeps():
        jobs += project.status(str(sweep))["jobs"]
    return jobs


def most_at_once(jobs: list[dict[str, Any]]) -> int:
    """The largest number of jobs whose recorded [start, end) overlap at one moment."""
    edges = []
    for job in jobs:
        edges.append((datetime.fromisoformat(job["start"]), 1))
        edges.append((datetime.fromisoformat(job["end"]), -1))
    edges.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    running = best = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best


def test_three_lines_under_a_cap_of_two_then_a_rerun_launches_nothing(project: Project) -> None:
    (project.root / "queue.txt").write_text(QUEUE)
    done = project.cli("campaign", "run", "queue.txt", "--max-running", "2", *SLOW, timeout=300)
    assert done.returncode == 0, done.stderr
    sweeps = project.sweeps()
    assert len(sweeps) == 3 and {s.name.split("_", 2)[2] for s in sweeps} == {
        "ch5_none",
        "experiment",
        "plain",
    }
    jobs = all_jobs(project)
    assert len(jobs) == 6 and {j["state"] for j in jobs} == {"succeeded"}
    assert most_at_once(jobs) == 2  # never more than 2 at once, and 2 at some moment
    record = json.loads((project.outputs / "campaigns" / "queue" / "campaign.json").read_text())
    assert sorted(line["line"] for line in record["lines"]) == [2, 3, 5]
    assert {Path(line["sweep_dir"]) for line in record["lines"]} == set(sweeps)
    assert record["shared_overrides"] == list(SLOW)

    code, doc = campaign_status(project)
    assert code == 0
    assert [(r["line"], r["state"], r["succeeded"], r["jobs"]) for r in doc["lines"]] == [
        (2, "COMPLETE", 2, 2),
        (3, "COMPLETE", 2, 2),
        (5, "COMPLETE", 2, 2),
    ]
    before = {j["run_dir"]: raw_status(Path(j["run_dir"])) for j in jobs}
    again = project.cli("campaign", "run", "queue.txt", "--max-running", "2", *SLOW)
    assert again.returncode == 0, again.stderr
    assert "nothing to launch" in again.stderr
    assert project.sweeps() == sweeps
    assert {d: raw_status(Path(d)) for d in before} == before  # not one job touched

    table = project.cli("campaign", "status", "queue.txt")
    assert table.returncode == 0
    assert "3 complete" in table.stdout and "ch5_none" in table.stdout


def test_a_rerun_relaunches_only_the_failed_job_and_starts_new_lines(project: Project) -> None:
    trainer = project.root / "configs" / "trainer"
    flaky = trainer / "flaky.yaml"
    shutil.copy(trainer / "default.yaml", flaky)
    flaky.write_text(flaky.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    queue = project.root / "queue.txt"
    queue.write_text("trainer=flaky seed=0,1 --name flaky\nseed=7 --name steady\n")
    done = project.cli("campaign", "run", "queue.txt", "--max-running", "2", "trainer.epochs=1")
    assert done.returncode == 1, done.stderr
    code, doc = campaign_status(project)
    assert code == 1
    assert [(r["state"], r["failed"]) for r in doc["lines"]] == [("INCOMPLETE", 2), ("COMPLETE", 0)]

    flaky.write_text(flaky.read_text().replace("fail_at_epoch: 1", "fail_at_epoch: null"))
    # the first job of the flaky line succeeds by hand, as if it had been resumed alone
    first = Path(project.status(doc["lines"][0]["sweep"])["jobs"][0]["run_dir"])
    assert project.cli("resume", doc["lines"][0]["sweep"], "--only", "0").returncode == 1
    assert raw_status(first)["state"] == "succeeded"
    queue.write_text(queue.read_text() + "seed=8 --name late\n")
    again = project.cli("campaign", "run", "queue.txt", "--max-running", "2", "trainer.epochs=1")
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr and "job(s) 1" in again.stderr
    code, doc = campaign_status(project)
    assert code == 0
    assert [r["state"] for r in doc["lines"]] == ["COMPLETE"] * 3
    flaky_jobs = project.status(doc["lines"][0]["sweep"])["jobs"]
    assert [j["attempts"] for j in flaky_jobs] == [2, 2]  # job 0 by resume, job 1 by rerun
    steady = project.status(doc["lines"][1]["sweep"])["jobs"]
    assert [j["attempts"] for j in steady] == [1]
    assert len(project.sweeps()) == 3


def test_status_exit_codes_a_busy_rerun_and_cancel(project: Project) -> None:
    (project.root / "queue.txt").write_text("seed=0,1 --name a\nseed=2 --name b\n")
    code, doc = campaign_status(project)
    assert code == 4 and [r["state"] for r in doc["lines"]] == ["NOT STARTED"] * 2
    running = project.popen(
        "campaign", "run", "queue.txt", "--max-running", "1", "trainer.epochs=60",
        "trainer.sleep=0.5",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            code, doc = campaign_status(project)
            if any(r["running"] for r in doc["lines"]):
                break
            assert time.monotonic() < deadline, doc
            time.sleep(0.3)
        assert code == 4
        busy = project.cli("campaign", "run", "queue.txt", "trainer.epochs=60")
        assert busy.returncode == 4 and "nothing launched" in busy.stderr
        assert len(project.sweeps()) == 2
        cancelled = project.cli("campaign", "cancel", "queue.txt", timeout=120)
        assert cancelled.returncode == 0, cancelled.stderr
        running.communicate(timeout=120)
    finally:
        running.kill()
    assert running.returncode == 1
    code, doc = campaign_status(project)
    assert code == 1
    assert {j["state"] for j in all_jobs(project)} == {"cancelled"}
    assert project.cli("campaign", "cancel", "queue.txt").returncode == 0  # idempotent


@pytest.mark.parametrize(
    ("queue", "extra", "words"),
    [
        pytest.param("seed=0 --jobs 2\n", [], "line 1: '--jobs'", id="option-on-a-line"),
        pytest.param("seed=0\nnot_a_key=1\n", [], "line 2 (not_a_key=1)", id="bad-override"),
        pytest.param("# nothing\n\n", [], "names no sweep", id="empty"),
        pytest.param("seed='0\n", [], "line 1: No closing quotation", id="bad-quote"),
        pytest.param("seed=0\n", ["--pack", "2"], "--pack is for cluster", id="local-pack"),
        pytest.param("seed=0\n", ["-j", "2"], "unknown option '-j'", id="run-only-flag"),
    ],
)
def test_bad_input_writes_nothing(
    project: Project, queue: str, extra: list[str], words: str
) -> None:
    (project.root / "queue.txt").write_text(queue)
    done = project.cli("campaign", "run", "queue.txt", *extra)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and done.stderr.count("\n") == 1
    assert not project.outputs.exists()


def test_campaign_help_status_and_cancel_do_not_import_hydra(project: Project) -> None:
    import subprocess
    import sys

    (project.root / "queue.txt").write_text("seed=0 --name a\n")
    assert project.cli("campaign", "run", "queue.txt", "trainer.epochs=1").returncode == 0
    for args in (
        ["campaign", "--help"],
        ["campaign", "run", "--help"],
        ["campaign", "status", "queue.txt"],
        ["campaign", "cancel", "queue.txt"],
    ):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "sweeper_cli", *args],
            cwd=project.root,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        imported = {
            line.split("|")[-1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:")
        }
        assert "hydra" not in imported and "omegaconf" not in imported, args
