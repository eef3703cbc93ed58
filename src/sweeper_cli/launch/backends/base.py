"""The backend protocol: every method takes the whole batch of jobs.

A backend launches jobs that `sweep.create` has written (each run dir holds
`.sweep/job.json`); every job runs through the job runner (`runner.py`, run by path),
which records its own status. Backends only start, observe and stop runners: the local
one as processes it waits for, cluster ones as one scheduler submission per launch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sweeper_cli.states import Cause, State


@dataclass(frozen=True)
class JobRef:
    """A job to launch or stop: its number, run dir and (cluster) scheduler id."""

    num: int
    run_dir: Path
    scheduler_id: str | None = None


@dataclass(frozen=True)
class Event:
    """Something that happened to a job while a backend ran it."""

    kind: str  # "started" | "finished" | "interrupted"
    num: int
    state: str | None = None
    detail: str | None = None
    run_dir: Path | None = None  # the job's (job numbers repeat across a campaign's sweeps)


@dataclass(frozen=True)
class Observation:
    """What a scheduler says of a job whose files do not tell the whole story: its state
    there, in words, and the cause when the scheduler ended or holds it."""

    state: State
    reason: str | None = None
    cause: Cause | None = None


@dataclass(frozen=True)
class Submission:
    """One scheduler submission: its id and the scheduler id of each job number."""

    scheduler_id: str
    job_ids: Mapping[int, str]
    files: Sequence[str] = ()


EventSink = Callable[[Event], None]


class RunState(Protocol):
    """What a run's files say of it, as the state wing reads them (`views.JobView`)."""

    @property
    def state(self) -> State: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def signal(self) -> str | None: ...
    @property
    def exit_code(self) -> int | None: ...


# How a launcher reads one run's state from its files (job number, run dir): the local
# backend tells each job's end with it. The state wing's reader (`status.observe_run`) is
# passed in by whoever makes the backend: launch never imports the state wing.
ReadRun = Callable[[int, Path], RunState]


class Backend(Protocol):
    name: str

    def check_paths(self, paths: Sequence[Path]) -> None:
        """BadInput if the backend's generated files cannot hold these paths literally."""
        ...

    def launch(
        self, sweep_dir: Path, jobs: Sequence[JobRef], on_event: EventSink
    ) -> Submission | None:
        """Start every job in `jobs`: the local backend runs and waits for them; cluster
        backends submit them as one array/cluster and return the submission."""
        ...

    def poll(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        """One batched look at jobs that have not reported; missing = unknown to it."""
        ...

    def cancel(self, sweep_dir: Path, jobs: Sequence[JobRef]) -> None:
        """Stop the given jobs if they are queued or running (one scheduler call). Their
        cancel requests are already on record, so a runner that starts anyway refuses."""
        ...
