"""Resume, cancel and remove: act on a sweep from its files alone (no daemon, no database)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.launch.backends.base import JobRef
from sweeper_cli.state.status import observe, observe_run, stray_run_dir
from sweeper_cli.state.views import JobView, SweepView
from sweeper_cli.states import Cause, State
from sweeper_cli.store import (
    jobfiles,
    layout,
    locks,
    owners,
    run_files,
    runptrs,
    runs_index,
    sweep_dirs,
)
from sweeper_cli.store.jobfiles import GRACE_SECONDS, highest_claim, hostname, now_iso

RESUMABLE = frozenset({State.FAILED, State.CANCELLED, State.LOST})


def untouchable(view: SweepView, job: JobView) -> str | None:
    """Why no command may write into this job's run dir: it lies outside the sweep's
    output root, or it belongs to another sweep (this sweep folder is a copy). None: it is
    this sweep's (or, made by an older thesis-sweep, says nothing)."""
    if job.run_dir is None:
        return None
    why = stray_run_dir(job.run_dir, (view.output_root, view.output_root.resolve()))
    if why is not None:
        return why
    other = owners.foreign_owner(job.run_dir, view.sweep_dir) if job.run_dir.is_dir() else None
    if other is not None:
        return f"its run dir belongs to the sweep {other} (is this sweep folder a copy?)"
    return None


def parse_job_list(text: str | None) -> set[int] | None:
    """`3,5,7-9` -> {3, 5, 7, 8, 9}; None -> None (all jobs)."""
    if text is None:
        return None
    nums: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            nums.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise BadInput(f"invalid job list {text!r}: use numbers such as 3,5,7-9") from None
    return nums


def pick(view: SweepView, nums: Iterable[int] | None) -> list[JobView]:
    """The sweep's jobs with these numbers (all when None); unknown numbers are bad input."""
    if nums is None:
        return list(view.jobs)
    by_num = {job.num: job for job in view.jobs}
    unknown = sorted(set(nums) - set(by_num))
    if unknown:
        raise BadInput(
            f"no job {', '.join(map(str, unknown))} in {view.sweep_dir.name} "
            f"(jobs 0-{len(view.jobs) - 1})"
        )
    return [by_num[n] for n in sorted(set(nums))]


@dataclass(frozen=True)
class ResumeChoice:
    relaunch: list[JobView]
    skipped: list[tuple[JobView, str]]


def choose_for_resume(
    view: SweepView, nums: Iterable[int] | None, failed_only: bool, cause: Cause | None = None
) -> ResumeChoice:
    """Jobs to relaunch: ended without success; only failed ones with `failed_only`, only
    those that ended by `cause` when given."""
    relaunch: list[JobView] = []
    skipped: list[tuple[JobView, str]] = []
    wanted = {State.FAILED} if failed_only else RESUMABLE
    for job in pick(view, nums):
        foreign = untouchable(view, job) if job.state in wanted else None
        if foreign is not None:
            skipped.append((job, foreign))
        elif job.state in wanted and cause is not None and job.cause is not cause:
            skipped.append((job, f"{job.state.value} ({job.reason or 'no reason'})"))
        elif job.state in wanted:
            relaunch.append(job)
        elif job.state is State.SUCCEEDED:
            skipped.append((job, "succeeded"))
        elif job.state is State.RUNNING:
            skipped.append((job, "still running"))
        elif job.state is State.QUEUED:
            skipped.append((job, "still queued"))
        else:
            skipped.append((job, f"{job.state.value} (not failed)"))
    return ResumeChoice(relaunch, skipped)


def check_replan(view: SweepView) -> Any:
    """The recorded jobs must re-plan identically from the recorded overrides; returns the
    plan (for an interrupted creation's multirun.yaml)."""
    from sweeper_cli.planning.plan import UNSPECIFIED, plan_sweep

    header = view.header
    config_dir, config_name = header.text("config_dir"), header.text("config_name")
    if config_dir is None or config_name is None:
        raise BadInput("the runs index does not record the config: cannot re-plan (--force)")
    version_base = header.raw.get("version_base", UNSPECIFIED)
    try:
        plan = plan_sweep(
            Path(config_dir), config_name, header.strings("overrides"), version_base=version_base
        )
    except BadInput as exc:
        raise BadInput(f"the sweep no longer plans: {exc} (--force skips this check)") from None
    now = {job.num: list(job.overrides) for job in plan.jobs}
    then = {job.num: list(job.overrides) for job in view.jobs}
    if now != then:
        changed = sorted(n for n in set(now) | set(then) if now.get(n) != then.get(n))
        first = changed[0]
        raise BadInput(
            f"the sweep no longer plans the same jobs (job {first} was {then.get(first)}, "
            f"now {now.get(first)}): the configs changed since it ran (--force skips this check)"
        )
    return plan


def git_drift(view: SweepView, cwd: Path) -> str | None:
    """A warning when the code changed since the sweep was created, else None."""
    from sweeper_cli.store import provenance

    then = view.header.raw.get("git")
    if not isinstance(then, dict) or not isinstance(then.get("commit"), str):
        return None
    now = provenance.git_state(cwd)
    if now["commit"] != then["commit"]:
        was, is_ = then["commit"][:10], str(now["commit"])[:10]
        return f"git commit changed since the sweep ({was} -> {is_})"
    if now["dirty"] and not then.get("dirty"):
        return "the working tree has uncommitted changes that the sweep did not have"
    return None


def repairs(view: SweepView, jobs: Iterable[JobView]) -> dict[int, str]:
    """What resume must rebuild before relaunching: {job: 'run dir' | 'job.json'}; refuses
    (BadInput) when the sweep does not record how (a sweep of an old version)."""
    needed: dict[int, str] = {}
    for job in jobs:
        if job.run_dir is None:
            raise BadInput(f"job {job.num} has no run dir on record: it cannot be resumed")
        if not job.run_dir.is_dir():
            needed[job.num] = "run dir"
            continue
        try:
            spec = jobfiles.read_json(layout.spec_path(job.run_dir))
            if not isinstance(spec, dict) or not isinstance(spec.get("argv"), list):
                raise ValueError
        except (OSError, ValueError):
            needed[job.num] = "job.json"
    template = view.header.raw.get("job_template")
    if needed and not isinstance(template, dict):
        nums = ", ".join(map(str, sorted(needed)))
        raise BadInput(
            f"job(s) {nums} lost their run dir or job.json, and this sweep (made by an older "
            "thesis-sweep) does not record how to rebuild them"
        )
    return needed


def rebuild(view: SweepView, job: JobView) -> None:
    """Recreate a job's run dir files (and the run dir) from the sweep's job template."""
    from sweeper_cli.planning.sweep import write_job

    assert job.run_dir is not None
    job.run_dir.mkdir(parents=True, exist_ok=True)
    name = view.header.name or "experiment"
    template = view.header.raw["job_template"]
    write_job(template, name, view.sweep_dir, job.num, job.overrides, job.run_dir)


def requeue(job: JobView, after_submission: int) -> None:
    """Make a job launchable again: withdraw its cancel request and record it `queued` by
    this process, keeping the last outcome under `previous` (the runner counts attempts)."""
    from sweeper_cli.planning.sweep import queued_record

    assert job.run_dir is not None
    run_files.withdraw_cancel(job.run_dir)
    attempt = max(job.attempts, highest_claim(layout.sweep_meta(job.run_dir)))
    previous = {
        "state": job.state.value,
        "exit_code": job.exit_code,
        "signal": job.signal,
        "reason": job.reason,
    }
    run_files.write_status(
        job.run_dir, queued_record(job.num, attempt, after_submission, previous=previous)
    )


def complete_creation(view: SweepView, plan: Any) -> None:
    """Finish a creation that was interrupted: every runptr, then multirun.yaml (last)."""
    from sweeper_cli.planning.plan import multirun_yaml

    for job in view.jobs:
        if job.run_dir is not None and job.run_dir.is_dir():
            runptrs.write_runptr(view.sweep_dir, job.num, job.run_dir)
    text = multirun_yaml(plan, view.sweep_dir)
    layout.atomic_write_text(view.sweep_dir / layout.MULTIRUN_FILE, text)


# --- cancel ------------------------------------------------------------------------------


def cancel(
    sweep_dir: Path, nums: Iterable[int] | None, reason: str = "cancelled by the user"
) -> tuple[list[int], SweepView]:
    """Stop the selected queued/running jobs of a sweep; idempotent. Returns the jobs it
    asked to stop and the sweep's view afterwards.

    A cancel request goes into each job's folder first (a runner starts nothing it asks
    to stop, and a runner that is stopped with one on record ends `cancelled`), then the
    backend stops what runs in one call: local runners get SIGTERM, cluster jobs one
    `scancel`/`condor_rm`.
    """
    from sweeper_cli.launch.backends.registry import get_backend

    view = observe(sweep_dir)
    targets = [j for j in pick(view, nums) if j.state in (State.QUEUED, State.RUNNING)]
    targets = [j for j in targets if j.run_dir is not None and untouchable(view, j) is None]
    targets += pack_mates(view, targets)
    if not targets:
        return [], view
    backend = get_backend(view.header.backend, observe=observe_run)
    here = hostname()
    for job in targets:
        assert job.run_dir is not None
        if backend.name == "local" and job.state is State.RUNNING and job.host != here:
            raise BadInput(f"job {job.num} runs on {job.host}; cancel it from that host")
        locks.require_writable(layout.sweep_meta(job.run_dir), f"cancel job {job.num}")
    by = {"by": {"host": here, "pid": os.getpid()}, "time": now_iso()}
    refs = []
    for job in targets:
        assert job.run_dir is not None
        upto = max(job.attempts, highest_claim(layout.sweep_meta(job.run_dir))) + 1
        run_files.request_cancel(job.run_dir, upto, reason, by)
        refs.append(JobRef(job.num, job.run_dir, job.scheduler_id))
    backend.cancel(sweep_dir, refs)
    wanted = {job.num for job in targets}
    deadline = time.monotonic() + GRACE_SECONDS + 5
    while True:
        view = observe(sweep_dir)
        if all(j.state.is_terminal() for j in view.jobs if j.num in wanted):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return sorted(wanted), view


def pack_mates(view: SweepView, targets: list[JobView]) -> list[JobView]:
    """Unfinished jobs that share a scheduler job (a pack) with a target: stopping the
    pack stops them too, so they are cancelled with it rather than left to look removed."""
    ids = {
        j.scheduler_id
        for j in targets
        if j.scheduler_id and j.submissions and j.num in j.submissions[-1].tasks
    }
    chosen = {j.num for j in targets}
    return [
        j
        for j in view.jobs
        if j.num not in chosen
        and j.scheduler_id in ids
        and j.state in (State.QUEUED, State.RUNNING)
        and j.run_dir is not None
        and untouchable(view, j) is None
    ]


def stop_search(sweep_dir: Path, reason: str) -> SweepView:
    """Stop a search: a stop request (its controller asks for no more trials and ends
    `cancelled`), SIGTERM to a controller on this host, then its queued and running jobs
    are cancelled. `resume` continues the search later; a trial stopped here runs again."""
    import signal

    from sweeper_cli.store import search_files

    by = {"by": {"host": hostname(), "pid": os.getpid()}, "time": now_iso()}
    locks.require_writable(search_files.folder(sweep_dir), "stop the search")
    search_files.request_stop(sweep_dir, reason, by)
    view = observe(sweep_dir)
    search = view.search
    controller = search.controller if search is not None else None
    if search is not None and search.active and controller and controller.host == hostname():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(controller.pid, signal.SIGTERM)
    _, view = cancel(sweep_dir, None, reason)
    deadline = time.monotonic() + GRACE_SECONDS + 10
    while view.search is not None and view.search.active and time.monotonic() < deadline:
        time.sleep(0.2)
        view = observe(sweep_dir)
    return view


# --- remove ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    """What `remove` deletes: the sweep folder and the run dirs that say they are its own;
    `left` are the run dirs it points at but leaves alone, each with the reason."""

    sweep_dir: Path
    run_dirs: list[Path]
    busy: list[int]  # jobs still queued or running
    left: list[tuple[Path, str]] = field(default_factory=list)


def _whose(run_dir: Path, sweep_dir: Path, root: Path) -> str | None:
    """Why `remove` leaves a run dir alone, or None when it is this sweep's to delete: it
    must lie inside the output root and say that it belongs to this sweep."""
    if not (owners.inside(run_dir, root) or owners.inside(run_dir, root.resolve())):
        return f"outside the sweep's output root {root}"
    owner = owners.owner_of(run_dir)
    if owner is None:
        # A run dir made by a creation killed before it wrote anything: nothing to lose.
        return None if _holds_nothing(run_dir) else "it does not say which sweep it belongs to"
    other = owners.foreign_owner(run_dir, sweep_dir)
    return None if other is None else f"it belongs to the sweep {other}"


def _holds_nothing(run_dir: Path) -> bool:
    """Whether a run dir holds nothing but an empty `.sweep/` (or a temp file in it)."""
    try:
        if set(os.listdir(run_dir)) - {layout.sweep_meta(run_dir).name}:
            return False
        meta = layout.sweep_meta(run_dir)
        return not meta.exists() or all(name.startswith(".") for name in os.listdir(meta))
    except OSError:
        return False


def plan_removal(sweep_dir: Path) -> Removal:
    """Everything a sweep owns on disk: its folder and the run dirs that are its own."""
    index: runs_index.Index | None = None
    if (sweep_dir / layout.INDEX_FILE).exists():
        index = runs_index.read_index(sweep_dir)
    elif sweep_dirs.is_complete(sweep_dir) or any(
        not name.startswith(".") for name in os.listdir(sweep_dir)
    ):
        raise BadInput(f"{sweep_dir} is not a thesis-sweep sweep (no runs_index.json)")
    root = index.header.output_root if index is not None else sweep_dir.parent.parent
    owned, left = set(), []
    pointed = set(runptrs.read_runptrs(sweep_dir).values())
    jobs = index.jobs if index is not None else []
    recorded = {Path(os.path.realpath(root / j.run_dir)) for j in jobs if j.run_dir}
    for run_dir in pointed | recorded:
        if not run_dir.exists():
            continue
        why = _whose(run_dir, sweep_dir, root)
        if why is None:
            owned.add(run_dir)
        else:
            left.append((run_dir, why))
    busy: list[int] = []
    if index is not None:
        try:
            view = observe(sweep_dir)
        except BadInput:
            view = None
        if view is not None and view.search is not None and view.search.active:
            raise BadInput(
                f"the search {sweep_dir.name} is {view.search.state}: thesis-sweep cancel it first"
            )
        busy = [
            j.num
            for j in (view.jobs if view else [])
            if not j.state.is_terminal() and j.run_dir in owned
        ]
    return Removal(sweep_dir, sorted(owned, key=str), busy, sorted(left, key=str))


def remove(removal: Removal) -> None:
    for run_dir in removal.run_dirs:
        shutil.rmtree(run_dir)
    shutil.rmtree(removal.sweep_dir)
