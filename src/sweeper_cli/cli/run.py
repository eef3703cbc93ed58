"""`thesis-sweep run`: plan, validate, write the sweep folder, launch."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
    PACK,
    SUCCESS,
    WARM,
)
from sweeper_cli.cli.console import print_json, stderr, stdout
from sweeper_cli.errors import EXIT_OK, BadInput
from sweeper_cli.project.profiles import Profile, choose
from sweeper_cli.project.settings import Settings, resolve
from sweeper_cli.store import locks

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}


def _refuse_unknown_options(ctx: typer.Context, args: list[str]) -> None:
    """A misspelt flag gets a suggestion instead of being taken for a Hydra override."""
    import difflib

    known = [opt for param in ctx.command.params for opt in getattr(param, "opts", [])]
    for arg in args:
        if arg.startswith("--") and arg not in known:
            close = difflib.get_close_matches(arg.split("=")[0], known, n=1, cutoff=0.8)
            if close:
                raise BadInput(f"unknown option {arg!r}; did you mean {close[0]}?")


def run(
    ctx: typer.Context,
    overrides: list[str] = typer.Argument(
        None,
        help="Hydra overrides, sweeps included (a=1,2 b=range(3) db=glob(*)).",
        show_default=False,
    ),
    name: str = typer.Option(None, "--name", help="Sweep name (default: experiment)."),
    config_name: str = typer.Option(None, "-cn", "--config-name", help="Primary config name."),
    config_dir: str = typer.Option(None, "-cd", "--config-dir", help="Config directory."),
    module: str = typer.Option(None, "--module", help="App module run as python -m MODULE."),
    script: str = typer.Option(None, "--script", help="App script run as python SCRIPT."),
    command: str = typer.Option(
        None, "--command", help="Any app command line instead, e.g. 'conda run -n x train'."
    ),
    jobs: int = typer.Option(None, "-j", "--jobs", help="Local jobs at once (default 1)."),
    backend: str = typer.Option(
        None, "--backend", help="local, slurm or htcondor (default: the profile's, else local)."
    ),
    profile: str = typer.Option(
        None, "--profile", help="A profile: the tool.thesis-sweep.profiles.NAME table."
    ),
    max_parallel: int = typer.Option(
        None, "--max-parallel", min=1, help="Cluster jobs running at once (array throttle)."
    ),
    max_jobs: int = typer.Option(
        None, "--max-jobs", min=1, help="Refuse sweeps with more jobs (default 100,000)."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Cluster: follow the sweep until it ends (like status --watch)."
    ),
    gpus: str = GPUS,
    gpus_per_job: int = GPUS_PER_JOB,
    jobs_per_gpu: int = JOBS_PER_GPU,
    output_root: str = typer.Option(None, "--output-root", help="Root of runs/ and multiruns/."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; write nothing."),
    fail_fast: bool = FAIL_FAST,
    warm: str = WARM,
    no_validate: bool = typer.Option(
        False, "--no-validate", help="Skip composing every job before launch."
    ),
    objective: str = typer.Option(
        None,
        "--objective",
        help="A search: the metric(s) each trial is judged by, as compare names them "
        "(default: the config's thesis_sweep.objective, else optimized_metric).",
    ),
    pack: int = PACK,
    success: str = SUCCESS,
    as_json: bool = JSON,
) -> int:
    """Run a sweep: one single Hydra run per combination."""
    every = [*(overrides or []), *ctx.args]
    _refuse_unknown_options(ctx, every)
    flags: dict[str, Any] = {
        "name": name,
        "config_name": config_name,
        "config_dir": config_dir,
        "module": module,
        "script": script,
        "command": command,
        "output_root": output_root,
        "profile": profile,
        "max_jobs": max_jobs,
        "warm": warm,
        "validate": False if no_validate else None,
        "success": success,
    }
    options = LaunchOptions(
        backend, jobs, max_parallel, gpus, gpus_per_job, jobs_per_gpu, fail_fast, pack
    )
    from sweeper_cli.cli.launching import launch, submit
    from sweeper_cli.launch.backends import packs
    from sweeper_cli.launch.warm import EarlyServer

    early = EarlyServer("off")
    try:
        planned = plan(flags, every, options, None if dry_run else early, objective)
        err = stderr()
        for text, style in planned.notes:
            err.print(text, style=style, highlight=False, markup=False)
        prepared, chosen, runner = planned.prepared, planned.profile, planned.runner
        preview.warn(packs.pack_profile(chosen, options.pack or 1), err)
        if prepared.plan.search is not None:
            return _search(
                prepared,
                chosen,
                runner,
                planned.pool,
                jobs,
                planned.settings,
                dry_run,
                as_json,
                wait,
            )
        if dry_run:
            return _dry_run(planned, as_json)
        sweep_dir, refs, labels = create(planned)
        with locks.launch_lock(sweep_dir):
            err.print(f"sweep {sweep_dir}  ({len(refs)} jobs)", highlight=False, markup=False)
            if runner.name == "local":
                return launch(runner, sweep_dir, refs, labels, as_json)
            return submit(runner, sweep_dir, refs, as_json, wait)
    finally:
        early.cancel()  # unless the launch took it


@dataclass(frozen=True)
class LaunchOptions:
    """Where and how a sweep's jobs run, as `run`'s flags say (None: not given)."""

    backend: str | None = None
    jobs: int | None = None
    max_parallel: int | None = None
    gpus: str | None = None
    gpus_per_job: int | None = None
    jobs_per_gpu: int | None = None
    fail_fast: bool = False
    pack: int | None = None


@dataclass(frozen=True)
class Planned:
    """A planned, validated sweep and the backend that will run it; nothing written yet.
    `notes` are the lines to show the user (text, style)."""

    settings: Settings
    prepared: Any  # planning.sweep.Prepared
    profile: Profile
    pool: Any  # launch.gpus.GpuPool | None
    runner: Any  # a launch backend
    success: tuple[str, ...]
    notes: list[tuple[str, str]] = field(default_factory=list)


def plan(
    flags: dict[str, Any],
    every: list[str],
    options: LaunchOptions,
    early: Any = None,
    objective: str | None = None,
) -> Planned:
    """Resolve the settings, choose the profile and backend, plan and validate the sweep of
    `every` override: what `run` does before it writes anything (a campaign too, per line).
    `early`: a job-start server (`warm.EarlyServer`) that a local sweep begins while it is
    planned (in the settings' `warm` mode), for its launch to take."""
    from sweeper_cli.cli.launching import local_parallel, local_pool
    from sweeper_cli.launch.backends.registry import get_backend
    from sweeper_cli.launch.warm import EarlyServer

    settings = resolve(flags)
    os.chdir(settings.project_root)  # jobs start here; Hydra's runtime.cwd is here
    gpus, per_job, per_gpu = options.gpus, options.gpus_per_job, options.jobs_per_gpu
    backend = options.backend
    early_profile = choose(settings.profiles, settings["profile"], backend)  # before Hydra
    local_pool(settings, early_profile, gpus, per_job, per_gpu)
    settings = settings.with_python(early_profile.python, f"profile {early_profile.name}")
    from sweeper_cli.planning import sweep  # imports Hydra: kept off the --help path
    from sweeper_cli.state.status import observe_run

    server = early if early is not None else EarlyServer("off")
    if early is not None:  # local warm starts: the server preloads while the sweep is planned
        server.mode = settings["warm"] if early_profile.backend == "local" else "off"
    prepared = sweep.prepare(settings, every, on_app=server.begin, objective=objective)
    notes: list[tuple[str, str]] = []
    if prepared.target.note:
        notes.append((f"note: {prepared.target.note}", ""))
    if prepared.plan.chdir is None:
        notes.append((CHDIR_WARNING.format(root=settings.project_root), "yellow"))
    chosen = choose(settings.profiles, settings["profile"] or prepared.plan.profile, backend)
    if chosen.python and chosen.python != early_profile.python:
        # The config chose a profile whose interpreter runs the app: plan for that one.
        server.cancel()
        settings = settings.with_python(chosen.python, f"profile {chosen.name}")
        prepared = sweep.prepare(settings, every, on_app=server.begin, objective=objective)
    if options.pack and options.pack > 1 and chosen.backend == "local":
        raise BadInput("--pack is for cluster backends (locally, -j sets how many run at once)")
    pool = local_pool(settings, chosen, gpus, per_job, per_gpu)
    runner = get_backend(
        chosen.backend,
        chosen,
        max_parallel=local_parallel(settings, options.jobs, pool)
        if chosen.backend == "local"
        else options.max_parallel,
        gpu_pool=pool,
        fail_fast=options.fail_fast,
        warm=settings["warm"],
        early=server,
        python=settings["python"],
        observe=observe_run,
        pack=options.pack,
    )
    runner.check_paths([prepared.sweep_dir])
    wanted = settings["success"] if settings.sources["success"] == "flag" else ()
    success = tuple(wanted or chosen.success or settings["success"])
    return Planned(settings, prepared, chosen, pool, runner, success, notes)


CHDIR_WARNING = (
    "warning: every job starts in {root} (Hydra >= 1.2 does not change into the run dir by "
    "default): files the jobs write with relative paths land in one folder and overwrite "
    "each other. Set hydra.job.chdir=true, or write under "
    "HydraConfig.get().runtime.output_dir and set hydra.job.chdir=false to say so."
)


def create(planned: Planned) -> tuple[Path, list[Any], dict[int, str]]:
    """Write the planned sweep; returns its folder, its jobs (JobRef) and their labels."""
    from sweeper_cli.launch.backends.base import JobRef
    from sweeper_cli.planning import sweep

    prepared = planned.prepared
    sweep_dir, run_dirs = sweep.create(
        prepared,
        planned.runner.name,
        profile=planned.profile.as_json(),
        success=planned.success,
    )
    refs = [JobRef(j.num, d) for j, d in zip(prepared.plan.jobs, run_dirs, strict=True)]
    labels = {j.num: " ".join(j.overrides) for j in prepared.plan.jobs}
    return sweep_dir, refs, labels


def _dry_run(planned: Planned, as_json: bool) -> int:
    from sweeper_cli.cli.render import plan_heading, plan_json, plan_table

    prepared, chosen, runner = planned.prepared, planned.profile, planned.runner
    doc = plan_json(
        prepared.naming.name,
        prepared.sweep_dir,
        [(j.num, j.overrides, prepared.run_dir(j.num)) for j in prepared.plan.jobs],
        prepared.plan.swept_keys,
    )
    doc["backend"] = chosen.backend
    doc["profile"] = chosen.as_json()
    nums = [j.num for j in prepared.plan.jobs]
    doc["files"] = preview.files(runner, prepared.sweep_dir, nums)
    note = preview.memory_note(chosen, planned.settings.profiles)
    if as_json:
        print_json(doc)
        return EXIT_OK
    out = stdout()
    out.print(plan_heading(doc), highlight=False, markup=False, soft_wrap=True)
    out.print(plan_table(doc))
    if note:
        stderr().print(f"note: {note}", highlight=False)
    preview.show(doc["files"], prepared.sweep_dir)
    return EXIT_OK


def _search(
    prepared: Any,
    profile: Any,
    runner: Any,
    pool: Any,
    jobs: int | None,
    settings: Any,
    dry_run: bool,
    as_json: bool,
    wait: bool,
) -> int:
    """A config with Hydra's Optuna sweeper: write the sweep, start its controller."""
    from sweeper_cli.cli import searching
    from sweeper_cli.cli.render import plan_json
    from sweeper_cli.planning import sweep

    record = {
        **prepared.plan.search.describe(),
        "objectives": list(prepared.objectives),
    }
    if dry_run:
        if as_json:
            doc = plan_json(prepared.naming.name, prepared.sweep_dir, [], prepared.plan.swept_keys)
            doc["backend"] = profile.backend
            doc["profile"] = profile.as_json()
            doc["search"] = record
            print_json(doc)
        else:
            out = stdout()
            out.print(f"search -> {prepared.sweep_dir}", highlight=False, markup=False)
            for line in searching.describe(record):
                out.print(line, highlight=False, markup=False, soft_wrap=True)
        return EXIT_OK
    sweep_dir, _ = sweep.create(prepared, runner.name, profile=profile.as_json())
    opts = searching.options(
        settings, runner.name, jobs, pool, profile, getattr(runner, "max_parallel", None)
    )
    err = stderr()
    for line in searching.describe(record):
        err.print(line, highlight=False, markup=False, soft_wrap=True)
    return searching.start(sweep_dir, opts, follow=runner.name == "local" or wait, as_json=as_json)
