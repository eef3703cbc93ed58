"""What each job of a sweep is doing now: files in, one `JobView` per job out.

Reads the index, each run's status record, claim and cancel request, asks `decide` for the
state, and for cluster sweeps merges one batched scheduler answer (`reconcile`). Writes
nothing but the index's cache (`refresh_index`, best effort), so it is safe at any moment,
from any number of shells, on a read-only mount. Stdlib-only: `status` never imports Hydra.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli import records, store
from sweeper_cli.backends.base import Observation
from sweeper_cli.decide import JobFacts, decide, launcher_alive
from sweeper_cli.runner import cancel_request, highest_claim, hostname, is_alive
from sweeper_cli.states import ORDER, State

Alive = Callable[[int, "int | None"], bool]


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
            "scheduler_id": self.scheduler_id,
        }


@dataclass
class SweepView:
    sweep_dir: Path
    index: store.Index
    jobs: list[JobView] = field(default_factory=list)
    submissions: list[records.Submission] = field(default_factory=list)
    warning: str | None = None
    launching: bool = False  # a live process holds the launch lock (run, resume)

    @property
    def header(self) -> records.SweepHeader:
        return self.index.header

    @property
    def output_root(self) -> Path:
        return self.index.header.output_root

    def counts(self) -> dict[str, int]:
        found = Counter(job.state for job in self.jobs)
        return {state.value: found.get(state, 0) for state in ORDER}


@dataclass(frozen=True)
class _Context:
    """What every job of one sweep shares while it is observed."""

    here: str
    now: datetime
    alive: Alive
    creating: bool
    incomplete: bool
    cluster: bool
    launcher: records.Process | None  # schema 1: the sweep-wide local launcher
    submissions: Sequence[records.Submission]


def _scheduler_id(num: int, after: int, subs: Sequence[records.Submission]) -> str | None:
    """The id of the newest submission after the `after`-th that holds job `num`."""
    for sub in reversed(subs):
        if sub.number > after and num in sub.job_ids:
            return sub.job_ids[num]
    return None


def observe_job(entry: records.JobEntry, run_dir: Path | None, ctx: _Context) -> JobView:
    """One job's view from its index entry and its files."""
    base = JobView(entry.num, State.LOST, entry.overrides, run_dir)
    exists = run_dir is not None and run_dir.is_dir()
    record: records.StatusRecord | None = None
    problem: str | None = None
    if exists and not entry.problem:
        assert run_dir is not None
        try:
            record = store.read_status(run_dir)
        except FileNotFoundError:
            problem = "status.json is missing"
        except OSError as exc:
            problem = f"status.json is unreadable ({exc.strerror or exc})"
        except records.RecordProblem as exc:
            problem = str(exc)
    next_claim = cancel = None
    submitted: bool | None = None
    scheduler_id = None
    if record is not None:
        assert run_dir is not None
        if record.state in (State.QUEUED, State.RUNNING):
            cancel = cancel_request(store.sweep_meta(run_dir))
        if record.state is State.QUEUED:
            latest = highest_claim(store.sweep_meta(run_dir))
            next_claim = store.read_claim(run_dir, latest) if latest > record.attempt else None
            if ctx.cluster:
                scheduler_id = _scheduler_id(entry.num, record.after_submission, ctx.submissions)
                submitted = scheduler_id is not None
        else:
            scheduler_id = record.scheduler_id or _scheduler_id(entry.num, 0, ctx.submissions)
    facts = JobFacts(
        problem=entry.problem,
        run_dir_exists=exists,
        record=record,
        record_problem=problem,
        next_claim=next_claim,
        cancel=cancel,
        creating=ctx.creating,
        incomplete=ctx.incomplete,
        launcher=(record.launcher if record else None) or ctx.launcher,
        submitted=submitted,
    )
    state, reason = decide(facts, ctx.here, ctx.now, ctx.alive)
    if record is None:
        return replace(base, state=state, reason=reason)
    return replace(
        base,
        state=state,
        reason=reason,
        exit_code=record.exit_code,
        signal=record.signal,
        start=record.start,
        end=record.end,
        host=record.host,
        attempts=record.attempt,
        scheduler_id=scheduler_id,
    )


def observe_run(num: int, run_dir: Path, alive: Alive = is_alive) -> JobView:
    """One local job's view from its run dir alone (its launcher is this process)."""
    ctx = _Context(
        here=hostname(),
        now=datetime.now(timezone.utc),
        alive=alive,
        creating=False,
        incomplete=False,
        cluster=False,
        launcher=None,
        submissions=(),
    )
    return observe_job(records.JobEntry(num), run_dir, ctx)


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


def submitted_at(view: SweepView, num: int) -> datetime | None:
    """When the newest submission holding job `num` was made."""
    for sub in reversed(view.submissions):
        if num in sub.job_ids:
            return sub.submitted
    return None


def _ask_scheduler(view: SweepView, now: datetime) -> None:
    """One batched scheduler query for the jobs whose files do not tell the end."""
    from sweeper_cli.backends import get_backend
    from sweeper_cli.backends.cluster import LOST_GRACE
    from sweeper_cli.errors import SweepError

    unsure = {
        j.num: j.scheduler_id
        for j in view.jobs
        if j.state in (State.QUEUED, State.LOST)
        and j.scheduler_id
        and j.run_dir is not None
        and j.reason != "run dir is missing"
    }
    if not unsure:
        return
    try:
        backend = get_backend(view.header.backend)
        seen = backend.poll(view.sweep_dir, {n: str(s) for n, s in unsure.items()})
    except SweepError as exc:
        view.warning = f"scheduler not asked: {exc}"
        return
    view.jobs = [
        reconcile(j, seen.get(j.num), submitted_at(view, j.num), now, LOST_GRACE)
        if j.num in unsure
        else j
        for j in view.jobs
    ]


def observe(sweep_dir: Path, ask_scheduler: bool = True, alive: Alive = is_alive) -> SweepView:
    """The whole sweep as known from its files (and, for cluster sweeps, its scheduler)."""
    index = store.read_index(sweep_dir)
    header = index.header
    here = hostname()
    now = datetime.now(timezone.utc)
    complete = store.is_complete(sweep_dir)
    creating = not complete and header.creator is not None
    creating = creating and launcher_alive(header.creator, here, alive)
    cluster = header.backend != "local"
    view = SweepView(sweep_dir, index)
    if cluster:
        view.submissions = store.read_submissions(sweep_dir, index)
    ctx = _Context(
        here=here,
        now=now,
        alive=alive,
        creating=creating,
        incomplete=not complete and not creating,
        cluster=cluster,
        launcher=header.launcher,
        submissions=view.submissions,
    )
    view.jobs = [observe_job(entry, d, ctx) for entry, d in store.job_dirs(index, sweep_dir)]
    holder = store.launching(sweep_dir)
    view.launching = (
        holder is not None
        and holder.host == here
        and holder.pid != os.getpid()  # the launcher asking about its own sweep
        and alive(holder.pid, holder.pid_start)
    )
    if ask_scheduler and cluster:
        _ask_scheduler(view, now)
    return view


def refresh_index(view: SweepView) -> None:
    """Write the merged states into runs_index.json's cache, if they changed (best effort)."""
    store.refresh_cache(view.sweep_dir, {job.num: job.cache() for job in view.jobs})


def sweep_exit_code(view: SweepView) -> int:
    """0 all succeeded, 1 any failed/lost/cancelled, 4 still queued or running (or being
    launched: `resume` has the sweep and is about to start jobs)."""
    states = {job.state for job in view.jobs}
    if states & {State.QUEUED, State.RUNNING} or view.launching:
        return 4
    if states <= {State.SUCCEEDED}:
        return 0
    return 1


_NOISE = (
    "Set the environment variable HYDRA_FULL_ERROR=1",
    "Error executing job with overrides",
)


def last_meaningful_line(run_dir: Path | None, max_bytes: int = 16384) -> str | None:
    """The last non-blank, non-boilerplate line of a job's captured output."""
    if run_dir is None:
        return None
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
