"""The one decider of a job's state: facts from its files in, (state, reason) out. Pure.

Facts are what the job's files say (its status record, the claim of the next attempt, a
cancel request), whether its run dir exists, and for queued jobs who launches them and
whether a scheduler has them. Liveness is injected, so the rules are tested as a table.
Scheduler observations are merged afterwards (`status.reconcile`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sweeper_cli.project.success import describe
from sweeper_cli.states import Cause, State
from sweeper_cli.store.jobfiles import STALE_AFTER, cancels, record_alive
from sweeper_cli.store.records import Process, StatusRecord

Alive = Callable[[int, "int | None"], bool]


class Verdict(NamedTuple):
    state: State
    reason: str | None = None
    cause: Cause | None = None


GONE = "its runner and app are gone without recording an end"
NEVER_STARTED = "never started: the sweep's launcher is gone (thesis-sweep resume starts it)"
NEVER_SUBMITTED = "never submitted: the sweep's launcher stopped before submitting it"
INTERRUPTED_CREATION = (
    "the sweep's creation was interrupted before this run dir was made "
    "(thesis-sweep resume makes it; thesis-sweep remove deletes the sweep)"
)


@dataclass(frozen=True)
class JobFacts:
    """Everything the files say about one job (see `decide`)."""

    problem: str | None = None  # a damaged index entry
    run_dir_exists: bool = True
    record: StatusRecord | None = None
    record_problem: str | None = None  # status.json missing, unreadable or malformed
    next_claim: Mapping[str, Any] | None = None  # queued jobs: the newest claim, if newer
    cancel: Mapping[str, Any] | None = None  # the cancel request on record
    creating: bool = False  # the sweep is being created by a live process
    incomplete: bool = False  # the sweep's creation was interrupted
    launcher: Process | None = None  # queued jobs: who starts (local) or submits them
    submitted: bool | None = None  # cluster: a submission after the requeue holds it
    missing_success: tuple[str, ...] = ()  # success files the run dir lacks (see success)


def launcher_alive(launcher: Process | None, here: str, alive: Alive) -> bool:
    """Whether the launcher may still start a job; unknown (elsewhere, none) counts alive."""
    if launcher is None or launcher.host != here:
        return True
    return alive(launcher.pid, launcher.pid_start)


def _cancel_reason(facts: JobFacts, default: str) -> str:
    reason = (facts.cancel or {}).get("reason")
    return str(reason) if reason else default


def decide(facts: JobFacts, here: str, now: datetime, alive: Alive) -> Verdict:
    """The job's state now, and why when it is not plain."""
    if facts.problem:
        return Verdict(State.LOST, facts.problem, Cause.LOST)
    if not facts.run_dir_exists:
        if facts.creating:
            return Verdict(State.QUEUED, "being created")
        if facts.incomplete:
            return Verdict(State.LOST, INTERRUPTED_CREATION, Cause.LOST)
        return Verdict(State.LOST, "run dir is missing", Cause.LOST)
    record = facts.record
    if record is None:
        return Verdict(State.LOST, facts.record_problem or "status.json is missing", Cause.LOST)
    if record.state is State.RUNNING:
        return _running(facts, record, here, now, alive)
    if record.state is State.QUEUED:
        return _queued(facts, record, here, now, alive)
    if record.state is State.SUCCEEDED and facts.missing_success:
        return Verdict(State.FAILED, describe(facts.missing_success), Cause.MISSING_FILES)
    return ended(record)


def _running(
    facts: JobFacts, record: StatusRecord, here: str, now: datetime, alive: Alive
) -> Verdict:
    if record_alive(record.raw, here, now, alive):
        if cancels(facts.cancel, record.attempt):
            return Verdict(State.RUNNING, "cancelling")
        return Verdict(State.RUNNING)
    if cancels(facts.cancel, record.attempt):
        return Verdict(State.CANCELLED, _cancel_reason(facts, "cancelled"), Cause.CANCELLED)
    if record.host != here:
        return Verdict(State.LOST, f"no heartbeat for more than {STALE_AFTER:.0f} s", Cause.LOST)
    return Verdict(State.LOST, GONE, Cause.LOST)


def _queued(
    facts: JobFacts, record: StatusRecord, here: str, now: datetime, alive: Alive
) -> Verdict:
    upcoming = record.attempt + 1
    if facts.next_claim is not None:
        claimed = facts.next_claim.get("attempt")
        if isinstance(claimed, int) and not isinstance(claimed, bool):
            upcoming = max(upcoming, claimed)
        if record_alive(facts.next_claim, here, now, alive):
            return Verdict(State.RUNNING, "starting")
        if cancels(facts.cancel, upcoming):
            why = _cancel_reason(facts, "cancelled before it started")
            return Verdict(State.CANCELLED, why, Cause.CANCELLED)
        why = f"its runner stopped before starting attempt {upcoming} (see .sweep/runner.log)"
        return Verdict(State.LOST, why, Cause.LOST)
    if cancels(facts.cancel, upcoming):
        why = _cancel_reason(facts, "cancelled before it started")
        return Verdict(State.CANCELLED, why, Cause.CANCELLED)
    launcher_ok = launcher_alive(facts.launcher, here, alive)
    if facts.submitted is False:
        if launcher_ok:
            return Verdict(State.QUEUED, "being submitted")
        return Verdict(State.LOST, NEVER_SUBMITTED, Cause.NOT_SUBMITTED)
    if facts.submitted is None and not launcher_ok:
        return Verdict(State.LOST, NEVER_STARTED, Cause.LOST)
    if record.reason and record.checkpointed:
        return Verdict(State.QUEUED, record.reason, Cause.CHECKPOINTED)
    return Verdict(State.QUEUED)


def ended(record: StatusRecord) -> Verdict:
    """An ended attempt as its runner (or launcher) recorded it, with the cause."""
    if record.state is State.SUCCEEDED:
        return Verdict(State.SUCCEEDED, record.reason)
    if record.state is State.CANCELLED:
        return Verdict(State.CANCELLED, record.reason, Cause.CANCELLED)
    if record.interrupted:
        return Verdict(State.FAILED, record.reason, Cause.INTERRUPTED)
    if record.reason and record.reason.startswith("not submitted"):
        return Verdict(State.FAILED, record.reason, Cause.NOT_SUBMITTED)
    if record.signal:
        return Verdict(State.FAILED, record.reason or f"killed by {record.signal}", Cause.SIGNAL)
    if record.exit_code is not None:
        why = record.reason or f"failed with exit code {record.exit_code}"
        return Verdict(State.FAILED, why, Cause.EXIT_CODE)
    return Verdict(record.state, record.reason)
