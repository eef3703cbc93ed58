"""What is known of a sweep and its jobs now, as `status` builds it from their files and
the scheduler's answers: one `JobView` per job, a `SearchView`, the `SweepView`, and the
sweep's exit code. Values only: reading the files is `status`'s job."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli.launch.backends.base import Observation
from sweeper_cli.states import ORDER, Cause, State
from sweeper_cli.store import records, runs_index, search_files


def _iso(stamp: datetime | None) -> str | None:
    return None if stamp is None else stamp.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobView:
    """What is known of one job now."""

    num: int
    state: State
    overrides: tuple[str, ...]
    run_dir: Path | None
    exit_code: int | None = None
    signal: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    host: str | None = None
    attempts: int = 0
    reason: str | None = None
    scheduler_id: str | None = None
    cause: Cause | None = None
    gpus: str | None = None  # the GPUs (CUDA_VISIBLE_DEVICES) its latest attempt got
    submissions: tuple[records.Submission, ...] = ()  # cluster: each one that held the job

    def duration(self, now: datetime | None = None) -> float | None:
        if self.start is None:
            return None
        finish = self.end or now or datetime.now(timezone.utc)
        return max(0.0, (finish - self.start).total_seconds())

    def cache(self) -> dict[str, Any]:
        """The fields the runs index caches for this job."""
        return {
            "state": self.state.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "host": self.host,
            "attempts": self.attempts,
            "reason": self.reason,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "num": self.num,
            "state": self.state.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "overrides": list(self.overrides),
            "run_dir": None if self.run_dir is None else str(self.run_dir),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "duration": self.duration(),
            "host": self.host,
            "attempts": self.attempts,
            "reason": self.reason,
            "cause": None if self.cause is None else self.cause.value,
            "gpus": self.gpus,
            "scheduler_id": self.scheduler_id,
            "resources": resources(self.submissions[-1]) if self.submissions else None,
            "submissions": [
                {
                    "scheduler_id": sub.job_ids[self.num],
                    "submitted": _iso(sub.submitted),
                    "resources": resources(sub),
                }
                for sub in self.submissions
            ],
        }


RESOURCE_KEYS = ("cpus", "memory", "gpus", "time", "partition", "account")


def resources(submission: records.Submission) -> dict[str, Any]:
    """The resources a submission asked for (from the profile it recorded)."""
    profile = submission.profile or {}
    return {key: profile.get(key) for key in RESOURCE_KEYS}


@dataclass(frozen=True)
class SearchView:
    """Where a search stands: its controller's account, checked against its process."""

    state: str  # running, stopping, starting, finished, stopped, cancelled, interrupted,
    # not started
    reason: str | None
    n_trials: int | None
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    trials: dict[int, search_files.Trial]  # by job number
    best: tuple[int, ...]
    controller: records.Process | None

    @property
    def active(self) -> bool:
        return self.state in ("running", "stopping", "starting")

    def counts(self) -> dict[str, int]:
        found = Counter(t.state for t in self.trials.values())
        return {"complete": found["complete"], "failed": found["failed"]}

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "n_trials": self.n_trials,
            "objectives": list(self.objectives),
            "directions": list(self.directions),
            "told": self.counts(),
            "best_jobs": list(self.best),
            "controller": None if self.controller is None else self.controller.as_json(),
            "trials": [t.as_json() for _, t in sorted(self.trials.items())],
        }


@dataclass
class SweepView:
    sweep_dir: Path
    index: runs_index.Index
    jobs: list[JobView] = field(default_factory=list)
    submissions: list[records.Submission] = field(default_factory=list)
    warning: str | None = None
    launching: bool = False  # a live process holds the launch lock (run, resume)
    answers: dict[int, Observation] = field(default_factory=dict)  # the scheduler's last word
    search: SearchView | None = None  # a search (Hydra's Optuna sweeper config)

    @property
    def header(self) -> records.SweepHeader:
        return self.index.header

    @property
    def output_root(self) -> Path:
        return self.index.header.output_root

    def counts(self) -> dict[str, int]:
        found = Counter(job.state for job in self.jobs)
        return {state.value: found.get(state, 0) for state in ORDER}


def sweep_exit_code(view: SweepView) -> int:
    """0 all succeeded, 1 any failed/lost/cancelled, 4 still queued or running (or being
    launched: `resume` has the sweep and is about to start jobs). A search: 4 while its
    controller runs, 0 once it finished with a best value (failed trials are part of a
    search), else 1."""
    states = {job.state for job in view.jobs}
    if states & {State.QUEUED, State.RUNNING} or view.launching:
        return 4
    if view.search is not None:
        if view.search.active:
            return 4
        return 0 if view.search.state == search_files.FINISHED and view.search.best else 1
    if states <= {State.SUCCEEDED}:
        return 0
    return 1
