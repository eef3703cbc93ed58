"""Resume and cancel: act on a sweep from its files alone (no daemon, no database)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli import proc, store
from sweeper_cli.errors import BadInput
from sweeper_cli.states import State
from sweeper_cli.status import JobView, SweepView, observe

RESUMABLE = frozenset({State.FAILED, State.CANCELLED, State.LOST, State.QUEUED})
GRACE_SECONDS = float(os.environ.get("THESIS_SWEEP_GRACE", "10"))


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
    view: SweepView, nums: Iterable[int] | None, failed_only: bool
) -> ResumeChoice:
    """Jobs to relaunch: not succeeded, not running; only failed ones with `failed_only`."""
    relaunch: list[JobView] = []
    skipped: list[tuple[JobView, str]] = []
    wanted = {State.FAILED} if failed_only else RESUMABLE
    for job in pick(view, nums):
        if job.state in wanted:
            relaunch.append(job)
        elif job.state is State.SUCCEEDED:
            skipped.append((job, "succeeded"))
        elif job.state is State.RUNNING:
            skipped.append((job, "still running"))
        else:
            skipped.append((job, f"{job.state.value} (not failed)"))
    return ResumeChoice(relaunch, skipped)


def check_replan(index: dict[str, Any]) -> None:
    """The recorded jobs must re-plan identically from the recorded overrides."""
    from sweeper_cli.plan import plan_sweep

    sweep = index["sweep"]
    try:
        plan = plan_sweep(Path(sweep["config_dir"]), sweep["config_name"], sweep["overrides"])
    except BadInput as exc:
        raise BadInput(f"the sweep no longer plans: {exc} (--force skips this check)") from None
    now = {job.num: list(job.overrides) for job in plan.jobs}
    then = {int(job["num"]): list(job["overrides"]) for job in index["jobs"]}
    if now != then:
        changed = sorted(n for n in set(now) | set(then) if now.get(n) != then.get(n))
        first = changed[0]
        raise BadInput(
            f"the sweep no longer plans the same jobs (job {first} was {then.get(first)}, "
            f"now {now.get(first)}): the configs changed since it ran (--force skips this check)"
        )


def git_drift(index: dict[str, Any], cwd: Path) -> str | None:
    """A warning when the code changed since the sweep was created, else None."""
    from sweeper_cli import provenance

    then = index["sweep"].get("git") or {}
    if not then.get("commit"):
        return None
    now = provenance.git_state(cwd)
    if now["commit"] != then["commit"]:
        was, is_ = then["commit"][:10], str(now["commit"])[:10]
        return f"git commit changed since the sweep ({was} -> {is_})"
    if now["dirty"] and not then.get("dirty"):
        return "the working tree has uncommitted changes that the sweep did not have"
    return None


def requeue(job: JobView) -> None:
    """Make a job launchable again, keeping its attempt count (the runner increments it)."""
    store.write_status(
        job.run_dir,
        {
            "num": job.num,
            "state": State.QUEUED.value,
            "attempt": job.attempts,
            "previous_state": job.state.value,
        },
    )


def claim_launcher(view: SweepView) -> None:
    """Record this process as the sweep's launcher (so queued jobs are not judged lost)."""
    view.index["sweep"]["launcher"] = {
        "host": proc.hostname(),
        "pid": os.getpid(),
        "pid_start": proc.start_ticks(os.getpid()),
    }


# --- cancel ------------------------------------------------------------------------------


def _mark_cancelled(job: JobView, reason: str) -> None:
    from sweeper_cli.runner import now_iso

    try:
        record = store.read_status(job.run_dir)
    except (OSError, ValueError):
        record = {"num": job.num, "attempt": job.attempts}
    record.pop("schema_version", None)
    record.update(state=State.CANCELLED.value, reason=reason, end=record.get("end") or now_iso())
    store.write_status(job.run_dir, record)


def cancel(sweep_dir: Path, nums: Iterable[int] | None) -> SweepView:
    """Stop the selected queued/running jobs of a sweep and mark them cancelled. Idempotent.

    Jobs that never started are marked cancelled first (a runner starts only a queued
    job, so they cannot start afterwards), then the backend stops the rest in one call:
    local runners get SIGTERM, cluster jobs `scancel`/`condor_rm`. Running jobs record
    their own end through their runner.
    """
    from sweeper_cli.backends import get_backend

    view = observe(sweep_dir)
    targets = [j for j in pick(view, nums) if j.state in (State.QUEUED, State.RUNNING)]
    if not targets:
        return view
    backend = get_backend(view.index["sweep"].get("backend", "local"))
    here = proc.hostname()
    for job in targets:
        if job.state is State.QUEUED:
            _mark_cancelled(job, "cancelled before it started")
        elif backend.name == "local" and job.host != here:
            raise BadInput(f"job {job.num} runs on {job.host}; cancel it from that host")
    backend.cancel(sweep_dir, view.index, [job.num for job in targets])
    deadline = time.monotonic() + GRACE_SECONDS + 5
    while time.monotonic() < deadline:
        now = {job.num: job.state for job in observe(sweep_dir).jobs}
        if all(now[job.num].is_terminal() for job in targets):
            break
        time.sleep(0.2)
    return observe(sweep_dir)
