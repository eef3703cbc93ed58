"""Merge the index, each run's status.json and liveness into one view per job (pure
apart from reading files and probing local pids). Stdlib-only: `status` never imports Hydra."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli import proc, store
from sweeper_cli.backends.base import Observation
from sweeper_cli.states import ORDER, State

# A job on another host is lost when its heartbeat is older than this (seconds).
STALE_AFTER = max(3 * float(os.environ.get("THESIS_SWEEP_HEARTBEAT", "30")), 90.0)


@dataclass(frozen=True)
class JobView:
    """What is known of one job now."""

    num: int
    state: State
    overrides: tuple[str, ...]
    run_dir: Path
    exit_code: int | None = None
    signal: str | None = None
    start: str | None = None
    end: str | None = None
    host: str | None = None
    attempts: int = 0
    reason: str | None = None
    scheduler_id: str | None = None

    def duration(self, now: datetime | None = None) -> float | None:
        if not self.start:
            return None
        begin = datetime.fromisoformat(self.start)
        finish = datetime.fromisoformat(self.end) if self.end else now or datetime.now(timezone.utc)
        return max(0.0, (finish - begin).total_seconds())

    def as_json(self) -> dict[str, Any]:
        return {
            "num": self.num,
            "state": self.state.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "overrides": list(self.overrides),
            "run_dir": str(self.run_dir),
            "start": self.start,
            "end": self.end,
            "duration": self.duration(),
            "host": self.host,
            "attempts": self.attempts,
            "reason": self.reason,
            "scheduler_id": self.scheduler_id,
        }


@dataclass
class SweepView:
    sweep_dir: Path
    index: dict[str, Any]
    jobs: list[JobView] = field(default_factory=list)
    warning: str | None = None

    @property
    def output_root(self) -> Path:
        return Path(self.index["sweep"]["output_root"])

    def counts(self) -> dict[str, int]:
        found = Counter(job.state for job in self.jobs)
        return {state.value: found.get(state, 0) for state in ORDER}


def _age(stamp: str | None, now: datetime) -> float:
    if not stamp:
        return float("inf")
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def judge_running(
    record: dict[str, Any], here: str, now: datetime, alive: Callable[[int, int | None], bool]
) -> tuple[State, str | None]:
    """Is a job recorded as running still running? (pid check here, heartbeat elsewhere)"""
    if record.get("host") == here:
        pids = [(record.get("runner_pid"), None), (record.get("pid"), record.get("pid_start"))]
        if any(pid and alive(int(pid), ticks) for pid, ticks in pids):
            return State.RUNNING, None
        return State.LOST, "its process is gone without recording an end"
    if _age(record.get("heartbeat"), now) > STALE_AFTER:
        return State.LOST, f"no heartbeat for more than {STALE_AFTER:.0f} s"
    return State.RUNNING, None


def observe_job(
    entry: dict[str, Any],
    root: Path,
    here: str,
    now: datetime,
    orchestrator_alive: bool,
    alive: Callable[[int, int | None], bool] = proc.is_alive,
) -> JobView:
    """One job's view from its index entry and its run's status.json."""
    run_dir = root / entry["run_dir"]
    base = {
        "num": int(entry["num"]),
        "overrides": tuple(entry.get("overrides", ())),
        "run_dir": run_dir,
        "attempts": int(entry.get("attempts", 0)),
        "scheduler_id": entry.get("scheduler_id"),
    }
    if not run_dir.is_dir():
        return JobView(state=State.LOST, reason="run dir is missing", **base)
    try:
        record = store.read_status(run_dir)
        state = State(record["state"])
    except (OSError, ValueError, KeyError) as exc:
        problem = (
            "status.json is missing"
            if isinstance(exc, FileNotFoundError)
            else (f"status.json is unreadable ({exc.__class__.__name__})")
        )
        return JobView(state=State.LOST, reason=problem, **base)
    reason = record.get("reason")
    if state is State.RUNNING:
        state, why = judge_running(record, here, now, alive)
        if state is State.LOST:  # it may have finished between the two looks
            with contextlib.suppress(OSError, ValueError, KeyError):
                fresh = store.read_status(run_dir)
                if State(fresh["state"]).is_terminal():
                    record, state, why = fresh, State(fresh["state"]), None
        reason = why or reason
    elif state is State.QUEUED and not orchestrator_alive:
        state, reason = State.LOST, "never started: the sweep's launcher is gone"
    base["attempts"] = int(record.get("attempt", base["attempts"]))
    return JobView(
        state=state,
        exit_code=record.get("exit_code"),
        signal=record.get("signal"),
        start=record.get("start"),
        end=record.get("end"),
        host=record.get("host"),
        reason=reason,
        **{**base, "scheduler_id": record.get("scheduler_id") or base["scheduler_id"]},
    )


def launcher_alive(sweep: dict[str, Any], here: str) -> bool:
    """Whether the process that launches this sweep's queued jobs may still start them."""
    launcher = sweep.get("launcher")
    if not launcher:
        return True
    if launcher.get("host") != here:
        return True
    return proc.is_alive(int(launcher["pid"]), launcher.get("pid_start"))


def reconcile(
    job: JobView, seen: Observation | None, submitted: datetime | None, now: datetime, grace: float
) -> JobView:
    """Merge what the scheduler says into a job that has not reported (pure)."""
    if seen is None:
        if job.state is State.QUEUED and submitted and (now - submitted).total_seconds() > grace:
            why = "the scheduler no longer knows it and it never reported"
            return replace(job, state=State.LOST, reason=why)
        return job
    if job.state is State.LOST and seen.state is State.QUEUED:
        return job  # its runner started, then vanished: the file's story wins
    return replace(job, state=seen.state, reason=seen.reason)


def _ask_scheduler(view: SweepView, now: datetime) -> None:
    """One batched scheduler query for the jobs whose files do not tell the end."""
    from sweeper_cli.backends import get_backend
    from sweeper_cli.backends.cluster import LOST_GRACE, submitted_at
    from sweeper_cli.errors import SweepError

    unsure = [
        j.num
        for j in view.jobs
        if j.state in (State.QUEUED, State.LOST)
        and j.scheduler_id
        and j.reason != "run dir is missing"
    ]
    if not unsure:
        return
    try:
        backend = get_backend(view.index["sweep"]["backend"])
        seen = backend.poll(view.sweep_dir, view.index, unsure)
    except SweepError as exc:
        view.warning = f"scheduler not asked: {exc}"
        return
    wanted = set(unsure)
    view.jobs = [
        reconcile(j, seen.get(j.num), submitted_at(view.index, j.num), now, LOST_GRACE)
        if j.num in wanted
        else j
        for j in view.jobs
    ]


def observe(sweep_dir: Path, ask_scheduler: bool = True) -> SweepView:
    """The whole sweep as known from its files (and, for cluster sweeps, its scheduler)."""
    index = store.read_index(sweep_dir)
    root = Path(index["sweep"]["output_root"])
    here = proc.hostname()
    now = datetime.now(timezone.utc)
    alive = launcher_alive(index["sweep"], here)
    view = SweepView(sweep_dir, index)
    view.jobs = [observe_job(e, root, here, now, alive) for e in index["jobs"]]
    if ask_scheduler and index["sweep"].get("backend", "local") != "local":
        _ask_scheduler(view, now)
    return view


def refresh_index(view: SweepView) -> None:
    """Write the merged states back into runs_index.json (atomically)."""
    by_num = {job.num: job for job in view.jobs}
    for entry in view.index["jobs"]:
        job = by_num[int(entry["num"])]
        entry.update(
            state=job.state.value,
            exit_code=job.exit_code,
            signal=job.signal,
            start=job.start,
            end=job.end,
            host=job.host,
            attempts=job.attempts,
            reason=job.reason,
        )
    store.write_index(view.sweep_dir, view.index)


def sweep_exit_code(view: SweepView) -> int:
    """0 all succeeded, 1 any failed/lost/cancelled, 4 still queued or running."""
    states = {job.state for job in view.jobs}
    if states & {State.QUEUED, State.RUNNING}:
        return 4
    if states <= {State.SUCCEEDED}:
        return 0
    return 1


_NOISE = (
    "Set the environment variable HYDRA_FULL_ERROR=1",
    "Error executing job with overrides",
)


def last_meaningful_line(run_dir: Path, max_bytes: int = 16384) -> str | None:
    """The last non-blank, non-boilerplate line of a job's captured output."""
    try:
        with store.log_path(run_dir).open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - max_bytes))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        text = line.strip()
        if text and not text.startswith(_NOISE):
            return text[:200]
    return None
