"""The one decider of job states, as a table; the typed records under it; the status merge."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sweeper_cli.launch.backends.base import Observation
from sweeper_cli.state import status, views
from sweeper_cli.state.decide import JobFacts, decide
from sweeper_cli.states import Cause, State
from sweeper_cli.store import layout, records, run_files, runs_index
from sweeper_cli.store.records import Process, RecordProblem, parse_status

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
HERE = "here"
LIVE = {101, 102, 201}  # pids alive "here" in these cases


def alive(pid: int, ticks: int | None) -> bool:
    return pid in LIVE


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat()


def rec(**fields: Any) -> records.StatusRecord:
    return parse_status({"state": "queued", **fields})


ME = Process(HERE, 201, None)  # a live launcher
GONE = Process(HERE, 999, None)  # a dead one
CANCEL_1 = {"upto": 1, "reason": "cancelled by the user"}


@pytest.mark.parametrize(
    ("facts", "state", "why"),
    [
        pytest.param(
            JobFacts(problem="entry 3 is bad"), State.LOST, "entry 3 is bad", id="bad-entry"
        ),
        pytest.param(JobFacts(run_dir_exists=False), State.LOST, "run dir is missing", id="no-dir"),
        pytest.param(
            JobFacts(run_dir_exists=False, creating=True),
            State.QUEUED,
            "being created",
            id="creating",
        ),
        pytest.param(
            JobFacts(run_dir_exists=False, incomplete=True),
            State.LOST,
            "creation was interrupted",
            id="interrupted-creation",
        ),
        pytest.param(
            JobFacts(record_problem="status.json has a bad 'attempt' ('x')"),
            State.LOST,
            "bad 'attempt'",
            id="malformed",
        ),
        # running
        pytest.param(
            JobFacts(record=rec(state="running", attempt=1, host=HERE, runner_pid=101)),
            State.RUNNING,
            None,
            id="running-here",
        ),
        pytest.param(
            JobFacts(record=rec(state="running", attempt=1, host=HERE, runner_pid=998, pid=102)),
            State.RUNNING,
            None,
            id="runner-gone-app-alive-is-still-running",
        ),
        pytest.param(
            JobFacts(record=rec(state="running", attempt=1, host=HERE, runner_pid=998, pid=997)),
            State.LOST,
            "gone without recording an end",
            id="running-here-gone",
        ),
        pytest.param(
            JobFacts(record=rec(state="running", attempt=1, host="node7", heartbeat=ago(10))),
            State.RUNNING,
            None,
            id="running-elsewhere-fresh",
        ),
        pytest.param(
            JobFacts(record=rec(state="running", attempt=1, host="node7", heartbeat=ago(9999))),
            State.LOST,
            "no heartbeat",
            id="running-elsewhere-stale",
        ),
        pytest.param(
            JobFacts(
                record=rec(state="running", attempt=1, host=HERE, runner_pid=101), cancel=CANCEL_1
            ),
            State.RUNNING,
            "cancelling",
            id="cancelling",
        ),
        pytest.param(
            JobFacts(
                record=rec(state="running", attempt=1, host=HERE, runner_pid=9), cancel=CANCEL_1
            ),
            State.CANCELLED,
            "cancelled by the user",
            id="cancelled-and-gone",
        ),
        # queued
        pytest.param(JobFacts(record=rec(), launcher=ME), State.QUEUED, None, id="queued"),
        pytest.param(
            JobFacts(record=rec(), launcher=GONE), State.LOST, "never started", id="launcher-gone"
        ),
        pytest.param(
            JobFacts(record=rec(launcher=GONE.as_json()), launcher=GONE),
            State.LOST,
            "never started",
            id="launcher-gone-in-record",
        ),
        pytest.param(
            JobFacts(record=rec(), launcher=Process("login2", 5, None)),
            State.QUEUED,
            None,
            id="launcher-elsewhere-unknown",
        ),
        pytest.param(
            JobFacts(record=rec(), launcher=ME, cancel=CANCEL_1),
            State.CANCELLED,
            "cancelled by the user",
            id="cancelled-before-start",
        ),
        pytest.param(
            JobFacts(record=rec(attempt=1), launcher=ME, cancel=CANCEL_1),
            State.QUEUED,
            None,
            id="old-cancel-does-not-touch-the-next-attempt",
        ),
        pytest.param(
            JobFacts(
                record=rec(),
                launcher=ME,
                next_claim={"host": HERE, "runner_pid": 101, "time": ago(1)},
            ),
            State.RUNNING,
            "starting",
            id="claimed-by-a-live-runner",
        ),
        pytest.param(
            JobFacts(
                record=rec(),
                launcher=ME,
                next_claim={"host": HERE, "runner_pid": 9, "time": ago(1)},
            ),
            State.LOST,
            "stopped before starting attempt 1",
            id="claimed-by-a-dead-runner",
        ),
        pytest.param(
            JobFacts(record=rec(), next_claim={"host": "node3", "time": ago(9999)}),
            State.LOST,
            "stopped before starting",
            id="claimed-elsewhere-long-ago",
        ),
        pytest.param(
            JobFacts(record=rec(), launcher=ME, submitted=False),
            State.QUEUED,
            "being submitted",
            id="cluster-being-submitted",
        ),
        pytest.param(
            JobFacts(record=rec(), launcher=GONE, submitted=False),
            State.LOST,
            "never submitted",
            id="cluster-never-submitted",
        ),
        pytest.param(
            JobFacts(record=rec(), launcher=GONE, submitted=True),
            State.QUEUED,
            None,
            id="cluster-submitted-launcher-may-go",
        ),
        # ended
        pytest.param(
            JobFacts(record=rec(state="succeeded", attempt=1)), State.SUCCEEDED, None, id="ok"
        ),
        pytest.param(
            JobFacts(record=rec(state="failed", attempt=1, reason="not submitted: x")),
            State.FAILED,
            "not submitted: x",
            id="failed-with-reason",
        ),
    ],
)
def test_decide(facts: JobFacts, state: State, why: str | None) -> None:
    verdict = decide(facts, HERE, NOW, alive)
    assert verdict.state is state
    if why is None:
        assert verdict.reason is None
    else:
        assert verdict.reason is not None and why in verdict.reason


@pytest.mark.parametrize(
    ("record", "cause", "why"),
    [
        pytest.param(
            rec(state="failed", attempt=1, exit_code=3), Cause.EXIT_CODE, "exit code 3", id="exit"
        ),
        pytest.param(
            rec(state="failed", attempt=1, signal="SIGKILL"), Cause.SIGNAL, "SIGKILL", id="signal"
        ),
        pytest.param(
            rec(state="failed", attempt=1, signal="SIGTERM", interrupted=True, reason="stopped"),
            Cause.INTERRUPTED,
            "stopped",
            id="interrupted",
        ),
        pytest.param(
            rec(state="cancelled", attempt=1, reason="by you"),
            Cause.CANCELLED,
            "by you",
            id="cancel",
        ),
        pytest.param(
            rec(state="failed", reason="not submitted: sbatch said no"),
            Cause.NOT_SUBMITTED,
            "sbatch said no",
            id="not-submitted",
        ),
        pytest.param(
            rec(attempt=1, checkpointed=True, reason="checkpointed (exit 85)"),
            Cause.CHECKPOINTED,
            "exit 85",
            id="checkpointed",
        ),
    ],
)
def test_the_cause_of_an_end(record: records.StatusRecord, cause: Cause, why: str) -> None:
    verdict = decide(JobFacts(record=record, submitted=True), HERE, NOW, alive)
    assert verdict.cause is cause and why in str(verdict.reason)


def _job(state: State, cause: Cause | None, attempts: int = 1) -> views.JobView:
    return views.JobView(0, state, (), Path("."), attempts=attempts, cause=cause, reason="files")


TIMEOUT = Observation(State.FAILED, "time limit: Slurm stopped it", Cause.TIME_LIMIT)
OOM = Observation(State.FAILED, "out of memory: held by HTCondor", Cause.OUT_OF_MEMORY)
REQUEUED = Observation(State.QUEUED, "slurm pending: BeginTime")
HELD = Observation(State.QUEUED, "held: via condor_hold (condor_release runs it)", Cause.HELD)


@pytest.mark.parametrize(
    ("job", "seen", "state", "cause", "why"),
    [
        pytest.param(
            _job(State.FAILED, Cause.INTERRUPTED),
            TIMEOUT,
            State.FAILED,
            Cause.TIME_LIMIT,
            "time limit",
            id="time-limit",
        ),
        pytest.param(
            _job(State.FAILED, Cause.SIGNAL),
            OOM,
            State.FAILED,
            Cause.OUT_OF_MEMORY,
            "out of memory",
            id="oom",
        ),
        pytest.param(
            _job(State.FAILED, Cause.INTERRUPTED),
            REQUEUED,
            State.QUEUED,
            Cause.PREEMPTED,
            "attempt 1 was stopped: slurm pending",
            id="requeued",
        ),
        pytest.param(
            _job(State.FAILED, Cause.INTERRUPTED),
            HELD,
            State.QUEUED,
            Cause.HELD,
            "condor_release",
            id="held",
        ),
        pytest.param(
            _job(State.LOST, Cause.LOST),
            REQUEUED,
            State.QUEUED,
            None,
            "slurm pending",
            id="lost-then-requeued",
        ),
        pytest.param(
            _job(State.LOST, Cause.LOST),
            TIMEOUT,
            State.FAILED,
            Cause.TIME_LIMIT,
            "time limit",
            id="lost-time-limit",
        ),
        pytest.param(
            _job(State.FAILED, Cause.INTERRUPTED),
            Observation(State.FAILED, "slurm FAILED (exit 143) before its runner reported"),
            State.FAILED,
            Cause.INTERRUPTED,
            "files",
            id="unexplained-keeps-the-files-story",
        ),
    ],
)
def test_reconcile_merges_the_schedulers_word(
    job: views.JobView, seen: Observation, state: State, cause: Cause | None, why: str
) -> None:
    merged = status.reconcile(job, seen, None, NOW, 120)
    assert (merged.state, merged.cause) == (state, cause)
    assert why in str(merged.reason)


def test_a_fresh_interruption_waits_for_the_schedulers_word() -> None:
    """Between a runner's SIGTERM and the scheduler's requeue showing in sacct, the job is
    not called failed (a polling script would stop): it waits, then ends explained or not."""
    stopped = replace(_job(State.FAILED, Cause.INTERRUPTED), end=NOW - timedelta(seconds=5))
    transient = Observation(State.FAILED, "slurm FAILED (exit 143) before its runner reported")
    waiting = status.reconcile(stopped, transient, None, NOW, 120)
    assert waiting.state is State.QUEUED and "waiting for the scheduler" in str(waiting.reason)
    assert status.reconcile(stopped, TIMEOUT, None, NOW, 120).cause is Cause.TIME_LIMIT
    later = replace(stopped, end=NOW - timedelta(seconds=600))
    assert status.reconcile(later, transient, None, NOW, 120).state is State.FAILED


def test_a_job_the_scheduler_forgot_is_lost_only_after_the_grace() -> None:
    queued = _job(State.QUEUED, None)
    submitted = NOW - timedelta(seconds=60)
    assert status.reconcile(queued, None, submitted, NOW, 120).state is State.QUEUED
    assert status.reconcile(queued, None, submitted, NOW, 30).state is State.LOST


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param([], "not an object", id="not-an-object"),
        pytest.param({"state": "done"}, "bad 'state'", id="unknown-state"),
        pytest.param({"state": "running", "attempt": "x"}, "bad 'attempt' ('x')", id="attempt-str"),
        pytest.param({"state": "running", "attempt": -1}, "bad 'attempt'", id="attempt-negative"),
        pytest.param({"state": "running", "attempt": True}, "bad 'attempt'", id="attempt-bool"),
        pytest.param({"state": "running", "start": "yesterday"}, "bad 'start'", id="start-text"),
        pytest.param({"state": "running", "start": "2026-01-01T00:00"}, "no time zone", id="naive"),
        pytest.param({"state": "running", "heartbeat": 5}, "bad 'heartbeat'", id="heartbeat-int"),
        pytest.param({"state": "running", "pid": "12"}, "bad 'pid'", id="pid-str"),
        pytest.param({"state": "failed", "exit_code": 1.5}, "bad 'exit_code'", id="exit-float"),
        pytest.param({"state": "queued", "launcher": {"host": "h"}}, "no 'pid'", id="launcher"),
    ],
)
def test_malformed_status_records_are_problems(data: Any, problem: str) -> None:
    with pytest.raises(RecordProblem, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_status(data)


def test_a_damaged_index_entry_is_one_lost_job() -> None:
    entries = [
        {"num": 0, "overrides": ["a=1"], "run_dir": "runs/r0"},
        {"overrides": ["a=2"], "run_dir": "runs/r1"},
        {"num": 2, "overrides": "a=3"},
        {"num": 3, "overrides": ["a=4"], "run_dir": 7},
        {"num": 4, "overrides": ["a=5"]},
    ]
    parsed = [records.parse_job_entry(e, i) for i, e in enumerate(entries)]
    assert [(p.num, p.problem is None) for p in parsed] == [
        (0, True),
        (1, False),
        (2, False),
        (3, False),
        (4, True),  # no run_dir: its runptr says where it is
    ]
    assert "bad 'num'" in str(parsed[1].problem)


def _sweep(tmp_path: Path, jobs: list[dict[str, Any]]) -> Path:
    sweep_dir = tmp_path / "multiruns" / "exp_x"
    sweep_dir.mkdir(parents=True)
    doc = {"schema_version": 2, "sweep": {"id": "exp_x", "backend": "local"}, "jobs": jobs}
    (sweep_dir / layout.INDEX_FILE).write_text(json.dumps(doc))
    (sweep_dir / layout.MULTIRUN_FILE).write_text("{}\n")
    return sweep_dir


def test_observe_reports_each_damaged_job_and_keeps_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "runs" / "r0"
    bad = tmp_path / "runs" / "r1"
    for run_dir, record in (
        (good, {"state": "succeeded", "attempt": 1}),
        (bad, {"state": "running", "attempt": "x"}),
    ):
        (run_dir / ".sweep").mkdir(parents=True)
        run_files.write_status(run_dir, record)
    sweep_dir = _sweep(
        tmp_path,
        [
            {"num": 0, "overrides": ["a=1"], "run_dir": "runs/r0"},
            {"num": 1, "overrides": ["a=2"], "run_dir": "runs/r1"},
            {"num": 2, "overrides": ["a=3"], "run_dir": "runs/gone"},
        ],
    )
    view = status.observe(sweep_dir)
    assert [(j.state, j.reason) for j in view.jobs] == [
        (State.SUCCEEDED, None),
        (State.LOST, "status.json has a bad 'attempt' ('x')"),
        (State.LOST, "run dir is missing"),
    ]


def test_exit_code_of_a_sweep(tmp_path: Path) -> None:
    index = runs_index.read_index(_sweep(tmp_path, []))

    def view(*states: State) -> views.SweepView:
        v = views.SweepView(Path("."), index)
        v.jobs = [views.JobView(i, s, (), Path(".")) for i, s in enumerate(states)]
        return v

    assert views.sweep_exit_code(view(State.SUCCEEDED, State.SUCCEEDED)) == 0
    assert views.sweep_exit_code(view(State.SUCCEEDED, State.FAILED)) == 1
    assert views.sweep_exit_code(view(State.LOST)) == 1
    assert views.sweep_exit_code(view(State.FAILED, State.RUNNING)) == 4
    assert views.sweep_exit_code(view(State.QUEUED)) == 4


def test_last_meaningful_line_skips_hydra_boilerplate(tmp_path: Path) -> None:
    (tmp_path / ".sweep").mkdir()
    layout.log_path(tmp_path).write_text(
        "Traceback...\nRuntimeError: boom at epoch 1\n\n"
        "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n"
    )
    assert status.last_meaningful_line(tmp_path) == "RuntimeError: boom at epoch 1"
