"""The backend protocol: every method takes the whole batch of jobs.

A backend launches jobs that `sweep.create` has written (each run dir holds
`.sweep/job.json`); every job runs through the job runner (`python -m sweeper_cli.runner
RUN_DIR`), which records its own status. Backends only start, observe and stop runners.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class JobRef:
    """A job to launch: its number and run dir."""

    num: int
    run_dir: Path


@dataclass(frozen=True)
class Event:
    """Something that happened to a job while a backend ran it."""

    kind: str  # "started" | "finished"
    num: int
    state: str | None = None
    detail: str | None = None


EventSink = Callable[[Event], None]


class Backend(Protocol):
    name: str

    def launch(self, sweep_dir: Path, jobs: Sequence[JobRef], on_event: EventSink) -> None:
        """Start every job in `jobs` (a local backend also waits for them)."""
        ...

    def cancel(self, sweep_dir: Path, jobs: Sequence[JobRef]) -> None:
        """Stop the given jobs if they are queued or running."""
        ...
