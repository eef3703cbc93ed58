"""An unfinished line's sweep made launchable again, as `resume` does it: the jobs that did
not succeed (failed, cancelled, lost, never started), their run dirs or job.json rebuilt
where they were lost, an interrupted creation completed, each job requeued. The caller
holds the sweep's launch lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sweeper_cli.errors import BadInput
from sweeper_cli.launch.backends.base import Backend, JobRef
from sweeper_cli.state import lifecycle
from sweeper_cli.state.views import JobView, SweepView
from sweeper_cli.store import locks, sweep_dirs


@dataclass
class Relaunch:
    """What a resumed line launches, and what was said about it."""

    sweep_dir: Path
    jobs: list[JobView]
    notes: list[str] = field(default_factory=list)

    @property
    def refs(self) -> list[JobRef]:
        return [JobRef(j.num, j.run_dir) for j in self.jobs if j.run_dir is not None]


def unfinished(view: SweepView) -> list[JobView]:
    """The jobs a rerun of the campaign relaunches (those `resume` would)."""
    return lifecycle.choose_for_resume(view, None, False).relaunch


def check(view: SweepView) -> Relaunch:
    """What relaunching this sweep's unfinished jobs needs; BadInput when it cannot be
    done (an adopted sweep, configs that no longer plan the same jobs). Writes nothing."""
    if view.header.adopted:
        raise BadInput(f"{view.sweep_dir.name} was adopted from a Hydra --multirun")
    choice = lifecycle.choose_for_resume(view, None, False)
    notes = [f"job {job.num}: skipped, {why}" for job, why in choice.skipped if why != "succeeded"]
    drift = lifecycle.git_drift(view, Path.cwd())
    if drift:
        notes.append(f"warning: {drift}")
    lifecycle.repairs(view, choice.relaunch)  # refuses a sweep that cannot rebuild them
    return Relaunch(view.sweep_dir, choice.relaunch, notes)


def prepare(view: SweepView, relaunch: Relaunch, backend: Backend) -> None:
    """Rebuild what was lost, finish an interrupted creation, take old copies of the jobs
    out of the scheduler's queue, and requeue each job for the coming launch."""
    locks.require_writable(view.sweep_dir, "resume")
    complete = sweep_dirs.is_complete(view.sweep_dir)
    plan = None if complete else lifecycle.check_replan(view)
    needed = lifecycle.repairs(view, relaunch.jobs)
    for job in relaunch.jobs:
        if job.num in needed:
            lifecycle.rebuild(view, job)
            relaunch.notes.append(f"job {job.num}: rebuilt its {needed[job.num]}")
    if plan is not None:
        lifecycle.complete_creation(view, plan)
        relaunch.notes.append(f"completed the interrupted creation of {view.sweep_dir.name}")
    if view.header.backend != "local":  # a held or pending old copy must not run as well
        old = [JobRef(j.num, j.run_dir, j.scheduler_id) for j in relaunch.jobs if j.run_dir]
        backend.cancel(view.sweep_dir, old)
    before = len(view.submissions)
    for job in relaunch.jobs:
        lifecycle.requeue(job, before)
