"""`status.reconcile`: merging one scheduler observation into what a job's files say.

Pure: no files, no scheduler. Where an observation comes from a parser, the parser reads
the real recordings in tests/data.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sweeper_cli.launch.backends import htcondor, slurm
from sweeper_cli.launch.backends.base import Observation
from sweeper_cli.state.status import reconcile
from sweeper_cli.state.views import JobView
from sweeper_cli.states import Cause, State

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
GRACE = 120.0
LOST_REASON = "the scheduler no longer knows it and it never reported"
DATA = Path(__file__).parent / "data"


def job(state: State, reason: str | None = None) -> JobView:
    return JobView(
        num=3,
        state=state,
        overrides=("lr=0.1",),
        run_dir=Path("/out/run_job3"),
        attempts=1,
        reason=reason,
        scheduler_id="10_3",
    )


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


HELD = Observation(State.QUEUED, "held: via condor_hold (condor_release runs it)", Cause.HELD)
RUNNING = Observation(State.RUNNING, "running in Slurm; its runner has not reported yet")
REMOVED = Observation(State.FAILED, "removed outside thesis-sweep (scancel)", Cause.REMOVED)
FAILED = Observation(State.FAILED, "ended (exit 3) before its runner reported")
PENDING = Observation(State.QUEUED, "slurm pending: JobArrayTaskLimit")


@pytest.mark.parametrize(
    ("before", "seen", "submitted", "state", "reason"),
    [
        # --- the scheduler does not know the job ---
        pytest.param(
            job(State.QUEUED), None, ago(5), State.QUEUED, None, id="queued-none-in-grace"
        ),
        pytest.param(
            job(State.QUEUED), None, ago(GRACE), State.QUEUED, None, id="queued-none-at-grace"
        ),
        pytest.param(
            job(State.QUEUED),
            None,
            ago(GRACE + 1),
            State.LOST,
            LOST_REASON,
            id="queued-none-after-grace-lost",
        ),
        pytest.param(
            job(State.QUEUED), None, None, State.QUEUED, None, id="queued-none-never-submitted"
        ),
        pytest.param(
            job(State.LOST, "no heartbeat for more than 90 s"),
            None,
            ago(3600),
            State.LOST,
            "no heartbeat for more than 90 s",
            id="lost-none-keeps-its-reason",
        ),
        # --- the scheduler knows it ---
        pytest.param(
            job(State.QUEUED), RUNNING, ago(5), State.RUNNING, RUNNING.reason, id="queued-running"
        ),
        pytest.param(job(State.QUEUED), HELD, ago(5), State.QUEUED, HELD.reason, id="queued-held"),
        pytest.param(
            job(State.QUEUED),
            PENDING,
            ago(3600),
            State.QUEUED,
            PENDING.reason,
            id="queued-pending-long-after-grace",
        ),
        pytest.param(
            job(State.QUEUED), FAILED, ago(5), State.FAILED, FAILED.reason, id="queued-failed"
        ),
        pytest.param(
            job(State.QUEUED), REMOVED, ago(5), State.FAILED, REMOVED.reason, id="queued-removed"
        ),
        # A runner gone without a word, and the scheduler runs the job again (a requeue
        # after a node failure): it waits for its next attempt.
        pytest.param(
            job(State.LOST, "no heartbeat for more than 90 s"),
            PENDING,
            ago(5),
            State.QUEUED,
            PENDING.reason,
            id="lost-then-requeued",
        ),
        pytest.param(
            job(State.LOST, "no heartbeat for more than 90 s"),
            HELD,
            ago(5),
            State.QUEUED,
            HELD.reason,
            id="lost-then-held",
        ),
        pytest.param(
            job(State.LOST, "no heartbeat for more than 90 s"),
            REMOVED,
            ago(5),
            State.FAILED,
            REMOVED.reason,
            id="lost-removed-by-an-admin",
        ),
        pytest.param(
            job(State.LOST, "no heartbeat for more than 90 s"),
            RUNNING,
            ago(5),
            State.RUNNING,
            RUNNING.reason,
            id="lost-running-obs-running-again",
        ),
    ],
)
def test_reconcile(
    before: JobView,
    seen: Observation | None,
    submitted: datetime | None,
    state: State,
    reason: str | None,
) -> None:
    after = reconcile(before, seen, submitted, NOW, GRACE)
    assert (after.state, after.reason) == (state, reason)
    # only state, reason and cause ever change
    assert after == replace(before, state=state, reason=reason, cause=after.cause)


def test_reconcile_unknown_within_grace_is_the_same_job() -> None:
    before = job(State.QUEUED)
    assert reconcile(before, None, ago(1), NOW, GRACE) is before


def test_reconcile_grace_is_a_parameter() -> None:
    before = job(State.QUEUED)
    assert reconcile(before, None, ago(10), NOW, grace=5).state is State.LOST
    assert reconcile(before, None, ago(10), NOW, grace=3600).state is State.QUEUED


def test_reconcile_recorded_hold_from_event_log() -> None:
    """The held job of the recorded HTCondor log (cut at its hold event)."""
    text = (DATA / "htcondor" / "userlog_mixed.log").read_text()
    held_at = text.index("012 (003.004.000) ")
    text = text[: text.index("\n...\n", held_at) + 5]
    seen = htcondor.parse_event_log(text)["3.4"]
    after = reconcile(job(State.QUEUED), seen, ago(3600), NOW, GRACE)
    # A missing input file (hold code 8) does not fix itself: the job ended, held.
    assert (after.state, after.cause) == (State.FAILED, Cause.HELD)
    assert after.reason is not None
    assert after.reason.startswith("held by HTCondor: Error from slot1_1@vm: Failed to open ")


def test_reconcile_recorded_slurm_pending() -> None:
    tasks = slurm.parse_squeue((DATA / "slurm" / "squeue_r_running_pending.txt").read_text())
    seen = slurm.observation(*tasks["10_3"], "submit/slurm-10_3.out")
    after = reconcile(job(State.QUEUED), seen, ago(3600), NOW, GRACE)
    assert (after.state, after.reason) == (State.QUEUED, "slurm pending: JobArrayTaskLimit")
