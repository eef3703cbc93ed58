"""What each job of a sweep is doing now: files in, one `JobView` per job out (`views`).

Reads the index, each run's status record, claim and cancel request, asks `decide` for the
state, and for cluster sweeps merges one batched scheduler answer (`reconcile`). Writes
nothing but the index's cache (`refresh_index`, best effort), so it is safe at any moment,
from any number of shells, on a read-only mount. Stdlib-only: `status` never imports Hydra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from sweeper_cli.launch.backends.base import Observation
from sweeper_cli.project import success
from sweeper_cli.state.decide import JobFacts, decide, launcher_alive
from sweeper_cli.state.views import JobView, SearchView, SweepView
from sweeper_cli.states import Cause, State
from sweeper_cli.store import (
    layout,
    locks,
    owners,
    records,
    run_files,
    runptrs,
    runs_index,
    search_files,
    submissions,
    sweep_dirs,
)
from sweeper_cli.store.jobfiles import cancel_request, highest_claim, hostname, is_alive

Alive = Callable[[int, "int | None"], bool]


def observe_search(sweep_dir: Path, header: records.SweepHeader, alive: Alive) -> SearchView:
    """The search's state from search/state.json and its controller's liveness."""
    record = header.raw.get("search")
    spec = record if isinstance(record, dict) else {}
    base = SearchView(
        state="not started",
        reason="its controller never started: `thesis-sweep resume` starts it",
        n_trials=spec.get("n_trials") if isinstance(spec.get("n_trials"), int) else None,
        objectives=tuple(str(o) for o in spec.get("objectives") or ()),
        directions=tuple(str(d) for d in spec.get("directions") or ()),
        trials={},
        best=(),
        controller=None,
    )
    try:
        found = search_files.read_state(sweep_dir)
    except (OSError, ValueError) as exc:
        return replace(base, state="interrupted", reason=f"search/state.json: {exc}")
    holder = locks.launching(sweep_dir)
    if found is None:
        if holder is not None and launcher_alive(holder, hostname(), alive):
            return replace(base, state="starting", reason=None)
        return base
    view = replace(
        base,
        state=found.state,
        reason=found.reason,
        trials=found.trials,
        best=found.best,
        controller=found.controller,
    )
    if found.state != search_files.RUNNING:
        return view
    if found.controller is None or not launcher_alive(found.controller, hostname(), alive):
        why = "its controller is gone, killed or its machine restarted; `resume` continues it"
        return replace(view, state="interrupted", reason=why)
    stop = search_files.stop_request(sweep_dir)
    return replace(view, state="stopping", reason=stop) if stop else view


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
    success: tuple[str, ...] = ()  # files a succeeded job's run dir must hold


def _scheduler_id(num: int, after: int, subs: Sequence[records.Submission]) -> str | None:
    """The id of the newest submission after the `after`-th that holds job `num`."""
    for sub in reversed(subs):
        if sub.number > after and num in sub.job_ids:
            return sub.job_ids[num]
    return None


def observe_job(
    entry: records.JobEntry, run_dir: Path | None, ctx: _Context, stray: str | None = None
) -> JobView:
    """One job's view from its index entry and its files; `stray`: why its run dir is not
    one this sweep may touch (it is then `lost` with that reason)."""
    base = JobView(entry.num, State.LOST, entry.overrides, run_dir)
    if stray is not None:
        return replace(base, reason=stray, cause=Cause.LOST)
    exists = run_dir is not None and run_dir.is_dir()
    record: records.StatusRecord | None = None
    problem: str | None = None
    if exists and not entry.problem:
        assert run_dir is not None
        try:
            record = run_files.read_status(run_dir)
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
            cancel = cancel_request(layout.sweep_meta(run_dir))
        if record.state is State.QUEUED:
            latest = highest_claim(layout.sweep_meta(run_dir))
            next_claim = run_files.read_claim(run_dir, latest) if latest > record.attempt else None
            if ctx.cluster:
                scheduler_id = _scheduler_id(entry.num, record.after_submission, ctx.submissions)
                submitted = scheduler_id is not None
        else:
            scheduler_id = record.scheduler_id or _scheduler_id(entry.num, 0, ctx.submissions)
    absent: tuple[str, ...] = ()
    if record is not None and record.state is State.SUCCEEDED and ctx.success:
        assert run_dir is not None
        absent = tuple(success.missing(run_dir, ctx.success))
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
        missing_success=absent,
    )
    state, reason, cause = decide(facts, ctx.here, ctx.now, ctx.alive)
    held = tuple(sub for sub in ctx.submissions if entry.num in sub.job_ids)
    if record is None:
        return replace(base, state=state, reason=reason, cause=cause, submissions=held)
    return replace(
        base,
        state=state,
        reason=reason,
        cause=cause,
        submissions=held,
        exit_code=record.exit_code,
        signal=record.signal,
        start=record.start,
        end=record.end,
        host=record.host,
        attempts=record.attempt,
        gpus=record.gpus,
        scheduler_id=scheduler_id,
    )


def stray_run_dir(run_dir: Path | None, roots: Sequence[Path]) -> str | None:
    """Why a job's run dir (as its runptr or the index says) is none of the sweep's: it
    lies outside the sweep's output root. No command writes or deletes there."""
    if run_dir is None or any(owners.inside(run_dir, root) for root in roots):
        return None
    return (
        f"its run dir {run_dir} is outside the sweep's output root {roots[0]} (its runptr "
        "points elsewhere): thesis-sweep does not touch it"
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
        success=success.recorded(layout.spec_path(run_dir)),
    )
    return observe_job(records.JobEntry(num), run_dir, ctx)


# Ends the scheduler can explain better than the job's files (a runner stopped from
# outside, an app killed by a signal, a runner gone without a word).
ASK_ABOUT = frozenset({Cause.INTERRUPTED, Cause.SIGNAL, Cause.LOST})
EXPLAINED = frozenset(
    {
        Cause.TIME_LIMIT,
        Cause.OUT_OF_MEMORY,
        Cause.PREEMPTED,
        Cause.NODE_FAILURE,
        Cause.REMOVED,
        Cause.HELD,
    }
)


def needs_scheduler(job: JobView) -> bool:
    """Whether a cluster job's files leave a question the scheduler can answer."""
    if not job.scheduler_id or job.run_dir is None or job.reason == "run dir is missing":
        return False
    return job.state is State.QUEUED or job.cause in ASK_ABOUT


# How long a runner's "stopped from outside" waits for the scheduler to say what it did
# (a requeue shows in sacct a few seconds after the SIGTERM), before it counts as an end.
SETTLE_SECONDS = 60.0


def _settling(job: JobView, seen: Observation | None, now: datetime) -> bool:
    """An attempt stopped from outside that the scheduler has not explained yet."""
    if job.cause is not Cause.INTERRUPTED or job.end is None:
        return False
    if seen is not None and (seen.cause in EXPLAINED or not seen.state.is_terminal()):
        return False
    return (now - job.end).total_seconds() < SETTLE_SECONDS


def reconcile(
    job: JobView, seen: Observation | None, submitted: datetime | None, now: datetime, grace: float
) -> JobView:
    """Merge what the scheduler says into what the job's files say (pure).

    The files win where they know the end (the runner recorded it); the scheduler says
    where a job waits or runs, why an attempt was stopped from outside (a time limit, a
    memory limit, a preemption, an admin) and whether it runs again (a requeue, a release).
    """
    if _settling(job, seen, now):
        why = "stopped from outside moments ago; waiting for the scheduler's word (a requeue?)"
        return replace(job, state=State.QUEUED, reason=why)
    if seen is None:
        if job.state is State.QUEUED and submitted and (now - submitted).total_seconds() > grace:
            why = "the scheduler no longer knows it and it never reported"
            return replace(job, state=State.LOST, reason=why, cause=Cause.LOST)
        return job
    if job.state is State.QUEUED or job.state is State.LOST:
        return replace(job, state=seen.state, reason=seen.reason, cause=seen.cause)
    if seen.state in (State.QUEUED, State.RUNNING):  # stopped, and the scheduler reruns it
        stopped = f"attempt {job.attempts} was stopped: " if job.attempts else ""
        cause = seen.cause or Cause.PREEMPTED
        return replace(job, state=seen.state, reason=f"{stopped}{seen.reason}", cause=cause)
    if seen.cause in EXPLAINED:
        return replace(job, reason=seen.reason, cause=seen.cause)
    return job


def submitted_at(view: SweepView, num: int) -> datetime | None:
    """When the newest submission holding job `num` was made."""
    for sub in reversed(view.submissions):
        if num in sub.job_ids:
            return sub.submitted
    return None


def _merge_scheduler(
    view: SweepView, now: datetime, ask: bool, answers: dict[int, Observation] | None
) -> None:
    """One batched scheduler query for the jobs whose files leave a question (when `ask`;
    else the `answers` of an earlier query), merged into their views."""
    from sweeper_cli.errors import SweepError
    from sweeper_cli.launch.backends.cluster import LOST_GRACE
    from sweeper_cli.launch.backends.registry import get_backend

    unsure = {j.num: str(j.scheduler_id) for j in view.jobs if needs_scheduler(j)}
    if not unsure:
        return
    if ask:
        try:
            answers = get_backend(view.header.backend).poll(view.sweep_dir, unsure)
        except SweepError as exc:
            view.warning = f"scheduler not asked: {exc}"
            return
    elif answers is None:
        return
    view.answers = dict(answers)
    view.jobs = [
        reconcile(j, in_pack(j, answers.get(j.num)), submitted_at(view, j.num), now, LOST_GRACE)
        if j.num in unsure
        else j
        for j in view.jobs
    ]


def in_pack(job: JobView, seen: Observation | None) -> Observation | None:
    """A queued job of a pack whose scheduler job runs waits for its turn in the pack."""
    newest = job.submissions[-1] if job.submissions else None
    if (
        seen is None
        or seen.state is not State.RUNNING
        or job.state is not State.QUEUED
        or newest is None
        or job.num not in newest.tasks
    ):
        return seen
    task = newest.tasks[job.num]
    return Observation(State.QUEUED, f"waiting for its turn in pack {task} ({job.scheduler_id})")


def observe(
    sweep_dir: Path,
    ask_scheduler: bool = True,
    alive: Alive = is_alive,
    answers: dict[int, Observation] | None = None,
    only: Collection[int] | None = None,
) -> SweepView:
    """The whole sweep as known from its files and, for cluster sweeps, its scheduler:
    asked now (`ask_scheduler`), or its earlier `answers` reused (polite polling).
    `only`: just these jobs (a search's batch among thousands of trials)."""
    index = runs_index.read_index(sweep_dir)
    header = index.header
    here = hostname()
    now = datetime.now(timezone.utc)
    complete = sweep_dirs.is_complete(sweep_dir)
    creating = not complete and header.creator is not None
    creating = creating and launcher_alive(header.creator, here, alive)
    cluster = header.backend != "local"
    view = SweepView(sweep_dir, index)
    if cluster:
        view.submissions = submissions.read_submissions(sweep_dir, index)
    ctx = _Context(
        here=here,
        now=now,
        alive=alive,
        creating=creating,
        incomplete=not complete and not creating,
        cluster=cluster,
        launcher=header.launcher,
        submissions=view.submissions,
        success=success.of(header.raw.get("job_template")),
    )
    pairs = runptrs.job_dirs(index, sweep_dir)
    if only is not None:
        pairs = [(entry, d) for entry, d in pairs if entry.num in only]
    roots = (header.output_root, header.output_root.resolve())
    view.jobs = [observe_job(entry, d, ctx, stray_run_dir(d, roots)) for entry, d in pairs]
    holder = locks.launching(sweep_dir)
    view.launching = (
        holder is not None
        and holder.host == here
        and holder.pid != os.getpid()  # the launcher asking about its own sweep
        and alive(holder.pid, holder.pid_start)
    )
    if cluster:
        _merge_scheduler(view, now, ask_scheduler, answers)
    if "search" in header.raw:
        view.search = observe_search(sweep_dir, header, alive)
    return view


def refresh_index(view: SweepView) -> None:
    """Write the merged states into runs_index.json's cache, if they changed (best effort)."""
    runs_index.refresh_cache(view.sweep_dir, {job.num: job.cache() for job in view.jobs})


_NOISE = (
    "Set the environment variable HYDRA_FULL_ERROR=1",
    "Error executing job with overrides",
)


def last_meaningful_line(run_dir: Path | None, max_bytes: int = 16384) -> str | None:
    """The last non-blank, non-boilerplate line of a job's captured output."""
    if run_dir is None:
        return None
    try:
        with layout.log_path(run_dir).open("rb") as handle:
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
