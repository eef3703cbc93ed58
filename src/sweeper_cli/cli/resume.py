"""`thesis-sweep resume`: relaunch the jobs of a sweep that did not succeed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sweeper_cli.cli import preview
from sweeper_cli.cli.common import (
    FAIL_FAST,
    GPUS,
    GPUS_PER_JOB,
    JOBS_PER_GPU,
    JSON,
    OUTPUT_ROOT,
    SWEEP_ARG,
    WARM,
    locate,
)
from sweeper_cli.cli.console import print_json, stderr
from sweeper_cli.cli.render import search_line, status_json
from sweeper_cli.errors import EXIT_OK, BadInput
from sweeper_cli.launch.backends.base import JobRef
from sweeper_cli.launch.backends.registry import get_backend
from sweeper_cli.project.profiles import Profile, choose, with_resources
from sweeper_cli.state import status, views
from sweeper_cli.state.views import JobView, SweepView
from sweeper_cli.states import Cause
from sweeper_cli.store import locks, runs_index, sweep_dirs


def resume(
    sweep: str = SWEEP_ARG,
    failed_only: bool = typer.Option(False, "--failed-only", help="Only jobs that failed."),
    only: str = typer.Option(None, "--only", help="Only these jobs, e.g. 3,5,7-9."),
    parallel: int = typer.Option(None, "-j", "--jobs", min=1, help="Local jobs at once."),
    max_parallel: int = typer.Option(
        None, "--max-parallel", min=1, help="Cluster jobs running at once."
    ),
    wait: bool = typer.Option(False, "--wait", help="Cluster: follow until the sweep ends."),
    gpus: str = GPUS,
    gpus_per_job: int = GPUS_PER_JOB,
    jobs_per_gpu: int = JOBS_PER_GPU,
    fail_fast: bool = FAIL_FAST,
    warm: str = WARM,
    strict: bool = typer.Option(
        False, "--strict", help="Refuse when the git commit changed or the tree got dirty."
    ),
    force: bool = typer.Option(
        False, "--force", help="Skip the check that the sweep still plans the same jobs."
    ),
    cause: str = typer.Option(
        None,
        "--cause",
        metavar="CAUSE",
        help="Only jobs that ended this way: oom, time, preempted, node_failure, held, "
        "removed, interrupted, exit_code, signal, cancelled, lost.",
    ),
    profile_name: str = typer.Option(
        None, "--profile", help="Cluster: resubmit with this profile's resources."
    ),
    memory: str = typer.Option(
        None, "--memory", help="Cluster: memory for the resubmitted jobs, e.g. 8G or x2."
    ),
    time_limit: str = typer.Option(
        None, "--time", help="Cluster: time limit for the resubmitted jobs, e.g. 2h or x2."
    ),
    cpus: int = typer.Option(None, "--cpus", min=1, help="Cluster: CPUs per resubmitted job."),
    pack: int = typer.Option(
        None,
        "--pack",
        min=1,
        metavar="K",
        help="Cluster: K jobs one after another per scheduler job (default: as they were).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be relaunched."),
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
) -> int:
    """Relaunch failed, cancelled and lost jobs in their own run dirs.

    A job whose run dir or job.json was lost gets them back first; a sweep whose creation
    was interrupted is completed. On a cluster, --memory/--time/--cpus/--profile give the
    resubmitted jobs other resources, e.g. `resume --cause oom --memory x2`. SWEEP is a
    sweep folder, its name or a unique part of it (default: the newest).
    """
    from sweeper_cli.cli.launching import launch, local_parallel, local_pool, submit
    from sweeper_cli.project.settings import resolve
    from sweeper_cli.state import lifecycle

    sweep_dir = locate(sweep, output_root)
    nums = lifecycle.parse_job_list(only)
    settings = resolve({"warm": warm})
    err = stderr()
    if "search" in runs_index.read_index(sweep_dir).header.raw:
        if nums is not None or any((failed_only, cause, fail_fast, force)):
            raise BadInput(
                "a search resumes as a whole: --only, --failed-only, --cause, --fail-fast "
                "and --force are for grids"
            )
        flags = (parallel, gpus, gpus_per_job, jobs_per_gpu, max_parallel, profile_name)
        return _resume_search(
            sweep_dir, settings, flags, (memory, time_limit, cpus), wait, strict, dry_run, as_json
        )
    with locks.launch_lock(sweep_dir):
        view = status.observe(sweep_dir)
        header = view.header
        if header.adopted:
            raise BadInput(
                "this sweep was adopted from a Hydra --multirun: thesis-sweep does not know "
                "how its jobs were launched; run them again with thesis-sweep run"
            )
        choice = lifecycle.choose_for_resume(view, nums, failed_only, parse_cause(cause))
        profile = _profile(view, choice.relaunch, profile_name)
        wants = (memory, time_limit, cpus)
        if header.backend == "local" and (profile_name or any(v is not None for v in wants)):
            raise BadInput("--profile, --memory, --time and --cpus are for cluster sweeps")
        if header.backend == "local" and pack is not None:
            raise BadInput("--pack is for cluster sweeps")
        packing = pack or _last_pack(choice.relaunch)
        profile = with_resources(profile, memory=memory, time=time_limit, cpus=cpus)
        preview.warn(profile, err)
        pool = local_pool(settings, profile, gpus, gpus_per_job, jobs_per_gpu)
        runner = get_backend(
            header.backend,
            profile,
            max_parallel=local_parallel(settings, parallel, pool)
            if header.backend == "local"
            else max_parallel,
            gpu_pool=pool,
            warm=settings["warm"],
            fail_fast=fail_fast,
            python=header.text("python"),
            observe=status.observe_run,
            pack=packing,
        )
        for job, why in choice.skipped:
            if nums is not None or why != "succeeded":
                err.print(f"job {job.num}: skipped, {why}", highlight=False)
        complete = sweep_dirs.is_complete(sweep_dir)
        if not choice.relaunch and complete:
            err.print(f"nothing to resume in {sweep_dir.name}", highlight=False)
            status.refresh_index(view)
            if as_json:
                print_json(status_json(view))
            return EXIT_OK if views.sweep_exit_code(view) == 0 else 1
        drift = lifecycle.git_drift(view, Path.cwd())
        if drift and strict:
            raise BadInput(f"{drift}; --strict refuses to resume")
        if drift:
            err.print(f"warning: {drift}", style="yellow", highlight=False)
        plan = None if force else lifecycle.check_replan(view)
        if not complete and plan is None:
            raise BadInput("this sweep's creation was interrupted: resume it without --force")
        needed = lifecycle.repairs(view, choice.relaunch)
        nums_text = ", ".join(str(j.num) for j in choice.relaunch) or "none"
        if dry_run:
            for num, what in sorted(needed.items()):
                err.print(f"job {num}: would rebuild its {what}", highlight=False)
            err.print(f"would relaunch job(s) {nums_text}", highlight=False)
            if header.backend != "local":
                asked = ", ".join(f"{k} {v}" for k, v in _asked(profile).items()) or "defaults"
                err.print(f"with resources: {asked}", highlight=False)
            return EXIT_OK
        locks.require_writable(sweep_dir, "resume")
        for job in choice.relaunch:
            if job.num in needed:
                lifecycle.rebuild(view, job)
                err.print(f"job {job.num}: rebuilt its {needed[job.num]}", highlight=False)
        if not complete:
            lifecycle.complete_creation(view, plan)
            err.print(f"completed the interrupted creation of {sweep_dir.name}", highlight=False)
        if header.backend != "local":  # a held or pending old copy must not run as well
            old = [JobRef(j.num, j.run_dir, j.scheduler_id) for j in choice.relaunch if j.run_dir]
            runner.cancel(sweep_dir, old)
        before = len(view.submissions)
        for job in choice.relaunch:
            lifecycle.requeue(job, before)
        err.print(f"resuming {sweep_dir.name}: job(s) {nums_text}", highlight=False)
        refs = [JobRef(j.num, j.run_dir) for j in choice.relaunch if j.run_dir is not None]
        labels = {j.num: " ".join(j.overrides) for j in choice.relaunch}
        if not refs:
            return EXIT_OK
        if header.backend == "local":
            return launch(runner, sweep_dir, refs, labels, as_json)
        return submit(runner, sweep_dir, refs, as_json, wait)


ALIASES = {
    "oom": Cause.OUT_OF_MEMORY,
    "memory": Cause.OUT_OF_MEMORY,
    "time": Cause.TIME_LIMIT,
    "timeout": Cause.TIME_LIMIT,
    "evicted": Cause.PREEMPTED,
    "missing": Cause.MISSING_FILES,
    "success": Cause.MISSING_FILES,
}


def parse_cause(text: str | None) -> Cause | None:
    if text is None:
        return None
    key = text.strip().lower().replace("-", "_")
    if key in ALIASES:
        return ALIASES[key]
    try:
        return Cause(key)
    except ValueError:
        known = ", ".join(sorted({*ALIASES, *(c.value for c in Cause)}))
        raise BadInput(f"unknown --cause {text!r}; choose from: {known}") from None


def _profile(view: SweepView, jobs: list[JobView], name: str | None) -> Profile:
    """The resources to resubmit with: a named profile, else what these jobs last had
    (their newest submission), else the sweep's own profile."""
    from sweeper_cli.project.settings import resolve

    header = view.header
    if name is not None:
        chosen = choose(resolve({}).profiles, name, None)
        if chosen.backend != header.backend:
            raise BadInput(
                f"profile {name!r} is for {chosen.backend}; this sweep runs on {header.backend}"
            )
        python = resolve({}).with_python(chosen.python, f"profile {name}")["python"]
        if chosen.python and python != header.text("python"):
            raise BadInput(
                f"profile {name!r} runs {python}, but this sweep's jobs run "
                f"{header.text('python')}: resume keeps the jobs' interpreter (start a new "
                "sweep for another one)"
            )
        return chosen
    last = [j.submissions[-1] for j in jobs if j.submissions]
    recorded = max(last, key=lambda sub: sub.number).profile if last else None
    if recorded is None:
        doc = header.raw.get("profile")
        recorded = doc if isinstance(doc, dict) else None
    return Profile.from_json(dict(recorded) if recorded else None, header.backend)


def _last_pack(jobs: list[JobView]) -> int | None:
    """The pack size of these jobs' newest submission (None: one job per scheduler job)."""
    last = [j.submissions[-1] for j in jobs if j.submissions]
    return max(last, key=lambda sub: sub.number).pack if last else None


def _asked(profile: Profile) -> dict[str, object]:
    keys = ("cpus", "memory", "gpus", "time", "partition", "account")
    return {key: getattr(profile, key) for key in keys if getattr(profile, key)}


def _resume_search(
    sweep_dir: Path,
    settings: Any,
    flags: tuple[Any, ...],
    resources: tuple[Any, ...],
    wait: bool,
    strict: bool,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Start a search's controller again: it finishes the trials it finds begun (their
    jobs told, waited for or run again) and goes on to n_trials."""
    from sweeper_cli.cli import searching
    from sweeper_cli.cli.launching import local_pool
    from sweeper_cli.state import lifecycle

    parallel, gpus, gpus_per_job, jobs_per_gpu, max_parallel, profile_name = flags
    memory, time_limit, cpus = resources
    err = stderr()
    view = status.observe(sweep_dir)
    search = view.search
    assert search is not None
    header = view.header
    if search.active:
        where = search.controller
        who = f" (controller {where.pid} on {where.host})" if where else ""
        raise BadInput(f"the search is {search.state}{who}: nothing to resume")
    if search.state == "finished":
        err.print(f"nothing to resume: {search_line(search)}", highlight=False)
        if as_json:
            print_json(status_json(view))
        return views.sweep_exit_code(view)
    if header.backend == "local" and (profile_name or any(v is not None for v in resources)):
        raise BadInput("--profile, --memory, --time and --cpus are for cluster sweeps")
    drift = lifecycle.git_drift(view, Path.cwd())
    if drift and strict:
        raise BadInput(f"{drift}; --strict refuses to resume")
    if drift:
        err.print(f"warning: {drift}", style="yellow", highlight=False)
    told = search.counts()
    doing = (
        f"continue the search: {told['complete'] + told['failed']} of {search.n_trials} trials told"
    )
    if dry_run:
        err.print(f"would {doing}", highlight=False)
        return EXIT_OK
    locks.require_writable(sweep_dir, "resume")
    before = search_files_options(sweep_dir)
    profile = _profile(view, list(view.jobs), profile_name)
    profile = with_resources(profile, memory=memory, time=time_limit, cpus=cpus)
    pool = local_pool(settings, profile, gpus, gpus_per_job, jobs_per_gpu)
    jobs = parallel if parallel is not None else before.get("jobs")
    opts = searching.options(settings, header.backend, jobs, pool, profile, max_parallel)
    err.print(f"resuming {sweep_dir.name}: {doing}", highlight=False)
    return searching.start(
        sweep_dir, opts, follow=header.backend == "local" or wait, as_json=as_json
    )


def search_files_options(sweep_dir: Path) -> dict[str, Any]:
    """How the last controller launched the trials (its -j and such)."""
    from sweeper_cli.store import search_files

    try:
        state = search_files.read_state(sweep_dir)
    except (OSError, ValueError):
        return {}
    return dict(state.options) if state is not None else {}
