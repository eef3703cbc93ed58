"""Job states. Imported by the job runner, so it stays stdlib-only."""

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
