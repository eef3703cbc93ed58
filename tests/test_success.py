"""The success setting with real sweeps: a job that exited 0 without the files it names is
failed (cause missing_files) in status, list, compare and resume alike; the flag, the
profile and the top-level setting, in that order; and bad entries refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Project, add_profile


def test_exit_0_without_the_success_files_is_a_failure_everyone_sees(project: Project) -> None:
    done = project.cli(
        "run", "--success", "best_val.pt,facts/scores.csv", "seed=0,1", "trainer.epochs=1"
    )
    assert done.returncode == 1, done.stderr
    assert "without its success file(s): facts/scores.csv" in done.stderr
    jobs = project.status()["jobs"]
    assert [(j["state"], j["exit_code"], j["cause"]) for j in jobs] == [
        ("failed", 0, "missing_files")
    ] * 2
    assert "facts/scores.csv" in jobs[0]["reason"] and "best_val.pt" not in jobs[0]["reason"]
    assert project.cli("status").returncode == 1
    listed = json.loads(project.cli("list", "--json").stdout)["sweeps"][0]
    assert listed["counts"]["failed"] == 2
    compared = json.loads(project.cli("compare", "--json").stdout)
    assert {row["state"] for row in compared["rows"]} == {"failed"}

    # The app writes the file from now on: resume picks exactly these jobs, by their cause.
    for job in jobs:
        (Path(job["run_dir"]) / "facts").mkdir(exist_ok=True)
    Path(jobs[0]["run_dir"], "facts", "scores.csv").write_text("x\n")
    assert project.status()["jobs"][0]["state"] == "succeeded"  # the files, now
    resumed = project.cli("resume", "--cause", "missing")
    assert resumed.returncode == 1, resumed.stderr
    after = project.status()["jobs"]
    assert [j["attempts"] for j in after] == [1, 2]  # job 0 had its file: not run again

    # A file deleted later makes its job failed again: complete means the files exist.
    Path(jobs[0]["run_dir"], "best_val.pt").unlink()
    assert project.status()["jobs"][0]["cause"] == "missing_files"


def test_flag_over_profile_over_setting(project: Project) -> None:
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'success = ["best_val.pt"]\n')
    add_profile(project, "strict", 'backend = "local"\nsuccess = ["never.txt"]')
    assert project.cli("run", "seed=0", "trainer.epochs=1").returncode == 0
    strict = project.cli("run", "--profile", "strict", "seed=0", "trainer.epochs=1")
    assert strict.returncode == 1 and "never.txt" in strict.stderr
    flag = project.cli(
        "run", "--profile", "strict", "--success", "best_val.pt", "seed=0", "trainer.epochs=1"
    )
    assert flag.returncode == 0, flag.stderr
    index = json.loads((project.sweeps()[-1] / "runs_index.json").read_text())
    assert index["sweep"]["job_template"]["success"] == ["best_val.pt"]


@pytest.mark.parametrize("entry", ["../outside.txt", "/abs/file", "best_val.pt,a/../../b"])
def test_bad_success_entries_are_refused_before_anything_is_written(
    project: Project, entry: str
) -> None:
    done = project.cli("run", "--success", entry, "seed=0")
    assert done.returncode == 2, done.stderr
    assert "success entry" in done.stderr
    assert not project.outputs.exists()
