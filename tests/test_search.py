"""Searches with Hydra's Optuna sweeper config, against Hydra's own Optuna sweep of the
same app: the same trials, the same best; a killed controller resumed; cancel; failures."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Project, raw_status, run_hydra_app

SEARCH = "hparams_search=optuna_demo"
SEARCHED = ("trainer.lr", "trainer.batch_size", "phase1/latent_space")


def searched(overrides: list[str]) -> tuple[str, ...]:
    return tuple(o for o in overrides if o.split("=", 1)[0] in SEARCHED)


def hydra_search(project: Project, sweep_dir: Path, *extra: str) -> list[tuple[str, ...]]:
    """Hydra's own Optuna sweep: each job's searched overrides, in job order."""
    args = ["-m", SEARCH, f"hydra.sweep.dir={sweep_dir}", f"env.output_root={sweep_dir}_out"]
    done = run_hydra_app(project.root, [*args, *extra], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return [searched(yaml.safe_load((j / ".hydra" / "overrides.yaml").read_text())) for j in jobs]


def index(sweep: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sweep / "runs_index.json").read_text())
    return data


def our_trials(sweep: Path) -> list[tuple[str, ...]]:
    return [searched(job["overrides"]) for job in index(sweep)["jobs"]]


def state(sweep: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sweep / "search" / "state.json").read_text())
    return data


def study_trials(sweep: Path) -> list[tuple[int, str]]:
    """(number, state) of every trial in the study, read with SQLite itself."""
    with sqlite3.connect(sweep / "search" / "study.db") as db:
        rows = db.execute("SELECT number, state FROM trials ORDER BY number").fetchall()
    return [(int(n), str(s)) for n, s in rows]


@pytest.mark.parametrize(("n_jobs", "parallel"), [(1, "1"), (3, "2")])
def test_the_search_tries_what_hydras_optuna_sweeper_tries(
    project: Project, tmp_path: Path, n_jobs: int, parallel: str
) -> None:
    budget = [f"hydra.sweeper.n_jobs={n_jobs}", "hydra.sweeper.n_trials=7"]
    theirs = hydra_search(project, tmp_path / "hydra", *budget)
    done = project.cli("run", "-j", parallel, SEARCH, *budget, timeout=300)
    assert done.returncode == 0, done.stderr
    [sweep] = project.sweeps()
    assert our_trials(sweep) == theirs
    assert len(set(theirs)) == 7  # a real search: seven different trials
    ours = (sweep / "optimization_results.yaml").read_bytes()
    assert ours == (tmp_path / "hydra" / "optimization_results.yaml").read_bytes()
    # each trial is an ordinary single run in runs/, listed and pointed at
    for job in index(sweep)["jobs"]:
        run_dir = project.outputs / job["run_dir"]
        assert (run_dir / ".hydra" / "config.yaml").is_file()
        assert (sweep / "runptrs" / str(job["num"])).resolve() == run_dir.resolve()
    assert study_trials(sweep) == [(n, "COMPLETE") for n in range(7)]
    best = yaml.safe_load(ours)["best_value"]
    told = state(sweep)
    [best_job] = told["best"]
    assert told["trials"][best_job]["values"] == [best]
    assert "search finished" in done.stderr and f"= {best:.6g} (job {best_job})" in done.stderr


def test_dry_run_shows_the_search_and_writes_nothing(project: Project) -> None:
    doc = project.plan(SEARCH, "hydra.sweeper.n_trials=5")
    search = doc["search"]
    assert search["n_trials"] == 5 and search["n_jobs"] == 2
    assert search["sampler"] == "TPESampler" and search["seed"] == 1234
    assert search["directions"] == ["minimize"] and search["objectives"] == ["best_val_loss"]
    assert list(search["params"]) == list(SEARCHED)
    assert search["fixed"] == {"hparams_search": "optuna_demo"}
    assert doc["jobs"] == [] and not project.outputs.exists()
    text = project.cli("run", "--dry-run", SEARCH, check=0).stdout
    assert "8 trials in batches of 2, TPESampler (seed 1234), minimize best_val_loss" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            [SEARCH, "--objective", "a,b"],
            "the search has 1 direction(s) (minimize) but 2 objective(s) (a, b)",
            id="objectives-vs-directions",
        ),
        pytest.param(
            [SEARCH, "optimized_metric=null"],
            "the search needs an objective: --objective KEY",
            id="no-objective",
        ),
        pytest.param(
            ["seed=1,2", "--objective", "val_loss"],
            "--objective is for searches",
            id="objective-on-a-grid",
        ),
        pytest.param(
            [SEARCH, "trainer.nope=choice(1,2)"],
            "the search space does not compose",
            id="unknown-key-in-space",
        ),
        pytest.param(
            [SEARCH, "hydra.sweeper.n_trials=0"],
            "n_trials and hydra.sweeper.n_jobs must be at least 1",
            id="no-trials",
        ),
    ],
)
def test_a_bad_search_is_refused_before_anything_is_written(
    project: Project, args: list[str], message: str
) -> None:
    done = project.cli("run", *args)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert message in line
    assert not project.outputs.exists()


def test_without_the_tune_extra_the_error_names_it(project: Project, tmp_path: Path) -> None:
    """A `hydra_plugins` package of its own first on the path hides the installed plugin,
    as on a machine without the extra."""
    shadow = tmp_path / "shadow" / "hydra_plugins"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    done = project.cli("run", SEARCH, env={"PYTHONPATH": str(shadow.parent)})
    assert done.returncode == 2
    assert "pip install 'thesis-sweep[tune]'" in done.stderr
    assert not project.outputs.exists()


SLOW = ["trainer.sleep=0.4"]  # four epochs: about two seconds a trial


def controller_pid(sweep: Path) -> int:
    pid: int = state(sweep)["controller"]["pid"]
    return pid


def wait_for(test: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_kill_9_of_the_controller_then_resume_tries_each_trial_once(
    project: Project, tmp_path: Path
) -> None:
    """The jobs running when the controller dies finish on their own and are told on
    resume (never run again); the sampler goes on from its saved state, so the trials
    are those of an uninterrupted search, i.e. Hydra's."""
    budget = ["hydra.sweeper.n_trials=6"]
    theirs = hydra_search(project, tmp_path / "hydra", *budget, *SLOW)
    run = project.popen("run", "-j", "2", SEARCH, *budget, *SLOW)
    wait_for(lambda: project.sweeps() and (project.sweeps()[0] / "search" / "state.json").exists())
    [sweep] = project.sweeps()
    # During the first batch: the sampler is mid-way through its random start-up trials,
    # so a resumed search that sampled afresh would repeat trials 0 and 1.
    first = lambda: [j["state"] for j in project.status()["jobs"]]  # noqa: E731
    wait_for(lambda: first() == ["running", "running"])
    os.kill(controller_pid(sweep), signal.SIGKILL)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 1, err
    assert "search interrupted" in err
    shown = project.status()
    assert shown["search"]["state"] == "interrupted"
    assert "resume" in shown["search"]["reason"]
    wait_for(lambda: all(j["state"] == "succeeded" for j in project.status()["jobs"]))
    done = project.cli("resume", timeout=300)
    assert done.returncode == 0, done.stderr
    assert our_trials(sweep) == theirs
    assert study_trials(sweep) == [(n, "COMPLETE") for n in range(6)]
    jobs = index(sweep)["jobs"]
    assert [j["num"] for j in jobs] == list(range(6))
    assert [raw_status(project.outputs / j["run_dir"])["attempt"] for j in jobs] == [1] * 6
    log = (sweep / "search" / "controller.log").read_text()
    assert "continuing 2 trial(s) begun earlier (job(s) 0, 1)" in log
    assert (sweep / "optimization_results.yaml").read_bytes() == (
        tmp_path / "hydra" / "optimization_results.yaml"
    ).read_bytes()


def test_cancel_stops_the_search_and_resume_runs_the_stopped_trials_again(
    project: Project,
) -> None:
    run = project.popen("run", "-j", "2", SEARCH, "hydra.sweeper.n_trials=4", *SLOW)
    wait_for(
        lambda: project.sweeps() and any(j["state"] == "running" for j in project.status()["jobs"])
    )
    [sweep] = project.sweeps()
    done = project.cli("cancel")
    assert done.returncode == 0, done.stderr
    assert "search cancelled (cancelled by the user)" in done.stderr
    run.communicate(timeout=60)
    shown = project.status()
    assert shown["search"]["state"] == "cancelled"
    assert {j["state"] for j in shown["jobs"]} == {"cancelled"}
    assert project.cli("status").returncode == 1
    assert study_trials(sweep) == [(0, "RUNNING"), (1, "RUNNING")]  # not told: run again
    done = project.cli("resume", timeout=300)
    assert done.returncode == 0, done.stderr
    assert study_trials(sweep) == [(n, "COMPLETE") for n in range(4)]
    attempts = [raw_status(project.outputs / j["run_dir"])["attempt"] for j in index(sweep)["jobs"]]
    assert attempts == [2, 2, 1, 1]
    assert project.cli("resume").stderr.startswith("nothing to resume: search finished")


def test_a_trial_without_its_metric_fails_and_max_failure_rate_stops_the_search(
    project: Project,
) -> None:
    """As Hydra's sweeper: the trial is told failed, and a batch failing more than
    max_failure_rate (default 0.0) stops the search."""
    done = project.cli("run", SEARCH, "--objective", "no_such_metric", timeout=300)
    assert done.returncode == 1
    [sweep] = project.sweeps()
    told = state(sweep)
    assert told["state"] == "stopped" and "max_failure_rate 0.0" in told["reason"]
    assert [t["state"] for t in told["trials"]] == ["failed", "failed"]
    assert "the run's files have no metric 'no_such_metric'" in told["trials"][0]["note"]
    assert study_trials(sweep) == [(0, "FAIL"), (1, "FAIL")]
    assert not (sweep / "optimization_results.yaml").exists()


def test_failed_trials_do_not_stop_a_search_that_allows_them(project: Project) -> None:
    """A job that fails (the app raises) is a failed trial; with max_failure_rate 1.0 the
    search goes on to n_trials, and a search without any completed trial has no best."""
    args = [SEARCH, "trainer.fail_at_epoch=1", "hydra.sweeper.max_failure_rate=1.0"]
    done = project.cli("run", *args, "hydra.sweeper.n_trials=4", timeout=300)
    assert done.returncode == 1
    [sweep] = project.sweeps()
    told = state(sweep)
    assert told["state"] == "finished" and told["reason"].startswith("no trial completed")
    assert [t["state"] for t in told["trials"]] == ["failed"] * 4
    assert "job failed" in told["trials"][0]["note"]
    assert study_trials(sweep) == [(n, "FAIL") for n in range(4)]


def test_status_shows_the_trials_their_values_and_the_best(project: Project) -> None:
    project.cli("run", SEARCH, "hydra.sweeper.n_trials=3", timeout=300, check=0)
    shown = project.status()
    search = shown["search"]
    assert search["state"] == "finished" and search["n_trials"] == 3
    assert search["told"] == {"complete": 3, "failed": 0}
    values = {t["job"]: t["values"][0] for t in search["trials"]}
    [best] = search["best_jobs"]
    assert values[best] == min(values.values())
    for job in shown["jobs"]:
        metrics = json.loads((Path(job["run_dir"]) / "facts" / "metrics.json").read_text())
        assert metrics["best_val_loss"] == values[job["num"]]
    table = project.cli("status").stdout
    assert "best_val_loss" in table and " *" in table
    assert project.cli("status").returncode == 0


def test_the_study_opens_with_optunas_own_tools(project: Project) -> None:
    project.cli("run", SEARCH, "hydra.sweeper.n_trials=2", timeout=300, check=0)
    [sweep] = project.sweeps()
    code = (
        "import optuna, sys; "
        f"s = optuna.load_study(study_name={sweep.name!r}, storage=sys.argv[1]); "
        "print(len(s.trials), s.best_value)"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{sweep / 'search' / 'study.db'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    count, best = done.stdout.split()
    assert (
        count == "2"
        and float(best)
        == yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_value"]
    )


def test_compare_sorts_a_search_by_its_objective_and_plots_it(
    project: Project, tmp_path: Path
) -> None:
    project.cli("run", SEARCH, "hydra.sweeper.n_trials=4", timeout=300, check=0)
    done = project.cli("compare", "--json", "--plot", str(tmp_path / "trials.png"), check=0)
    rows = json.loads(done.stdout)["rows"]
    values = [row["best_val_loss"] for row in rows]
    assert values == sorted(values) and len(values) == 4
    assert "sorted by best_val_loss (ascending): the search's objective" in done.stderr
    assert "plot: best_val_loss against job (4 runs)" in done.stderr
    assert (tmp_path / "trials.png").read_bytes().startswith(b"\x89PNG")
    by_job = project.cli("compare", "--json", "--sort", "job", check=0)
    assert [r["job"] for r in json.loads(by_job.stdout)["rows"]] == [0, 1, 2, 3]
