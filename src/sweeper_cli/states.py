"""Job states and the causes of a job's end (stdlib-only)."""

from __future__ import annotations

from enum import Enum


class State(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    def is_terminal(self) -> bool:
        return self not in (State.QUEUED, State.RUNNING)


ORDER = tuple(State)


class Cause(str, Enum):
    """Why an attempt ended or waits: the machine-readable part of a job's reason."""

    EXIT_CODE = "exit_code"  # the app failed on its own
    SIGNAL = "signal"  # the app was killed by a signal nobody on record sent
    CANCELLED = "cancelled"  # thesis-sweep cancel, Ctrl-C, SIGTERM, --fail-fast
    INTERRUPTED = "interrupted"  # stopped from outside, not yet explained
    TIME_LIMIT = "time_limit"
    OUT_OF_MEMORY = "out_of_memory"
    PREEMPTED = "preempted"  # evicted, preempted, requeued by the scheduler
    NODE_FAILURE = "node_failure"
    HELD = "held"
    REMOVED = "removed"  # scancel/condor_rm outside thesis-sweep (an admin)
    CHECKPOINTED = "checkpointed"  # exited with the checkpoint code: runs again
    MISSING_FILES = "missing_files"  # exited 0 without the files the success setting names
    NOT_SUBMITTED = "not_submitted"
    LOST = "lost"
