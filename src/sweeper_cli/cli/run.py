"""`thesis-sweep run`: plan, validate, write the sweep folder, launch."""

from __future__ import annotations

import os
from typing import Any

import typer

from sweeper_cli.cli import preview
from sweeper_cli.cli.common import FAIL_FAST, GPUS, GPUS_PER_JOB, JOBS_PER_GPU, JSON, WARM
from sweeper_cli.cli.console import print_json, stderr, stdout
from sweeper_cli.errors import EXIT_OK, BadInput
from sweeper_cli.project.profiles import choose
from sweeper_cli.project.settings import resolve
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
    }
    settings = resolve(flags)
    os.chdir(settings.project_root)  # jobs start here; Hydra's runtime.cwd is here
    from sweeper_cli.cli.launching import launch, local_parallel, local_pool, submit

    early = choose(settings.profiles, settings["profile"], backend)  # fail fast, before Hydra
    local_pool(settings, early, gpus, gpus_per_job, jobs_per_gpu)
    settings = settings.with_python(early.python, f"profile {early.name}")
    from sweeper_cli.cli.render import plan_heading, plan_json, plan_table
    from sweeper_cli.launch.backends.base import JobRef
    from sweeper_cli.launch.backends.registry import get_backend
    from sweeper_cli.launch.warm import EarlyServer
    from sweeper_cli.planning import sweep  # imports Hydra: kept off the --help path
    from sweeper_cli.state.status import observe_run

    # Local warm starts: the job-start server preloads while the sweep is planned.
    early_server = EarlyServer(
        settings["warm"] if early.backend == "local" and not dry_run else "off"
    )
    try:
        prepared = sweep.prepare(settings, every, on_app=early_server.begin, objective=objective)
        err = stderr()
        if prepared.target.note:
            err.print(f"note: {prepared.target.note}", highlight=False, markup=False)
        if prepared.plan.chdir is None:
            err.print(
                f"warning: every job starts in {settings.project_root} (Hydra >= 1.2 does not "
                "change into the run dir by default): files the jobs write with relative paths "
                "land in one folder and overwrite each other. Set hydra.job.chdir=true, or write "
                "under HydraConfig.get().runtime.output_dir and set hydra.job.chdir=false to "
                "say so.",
                style="yellow",
                highlight=False,
                markup=False,
            )
        chosen = choose(settings.profiles, settings["profile"] or prepared.plan.profile, backend)
        if chosen.python and chosen.python != early.python:
            # The config chose a profile whose interpreter runs the app: plan for that one.
            early_server.cancel()
            settings = settings.with_python(chosen.python, f"profile {chosen.name}")
            prepared = sweep.prepare(
                settings, every, on_app=early_server.begin, objective=objective
            )
        pool = local_pool(settings, chosen, gpus, gpus_per_job, jobs_per_gpu)
        runner = get_backend(
            chosen.backend,
            chosen,
            max_parallel=local_parallel(settings, jobs, pool)
            if chosen.backend == "local"
            else max_parallel,
            gpu_pool=pool,
            fail_fast=fail_fast,
            warm=settings["warm"],
            early=early_server,
            python=settings["python"],
            observe=observe_run,
        )
        runner.check_paths([prepared.sweep_dir])
        preview.warn(chosen, err)
        if prepared.plan.search is not None:
            return _search(prepared, chosen, runner, pool, jobs, settings, dry_run, as_json, wait)
        if dry_run:
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
            note = preview.memory_note(chosen, settings.profiles)
            if as_json:
                print_json(doc)
                return EXIT_OK
            out = stdout()
            out.print(plan_heading(doc), highlight=False, markup=False, soft_wrap=True)
            out.print(plan_table(doc))
            if note:
                err.print(f"note: {note}", highlight=False)
            preview.show(doc["files"], prepared.sweep_dir)
            return EXIT_OK

        sweep_dir, run_dirs = sweep.create(prepared, runner.name, profile=chosen.as_json())
        refs = [JobRef(j.num, d) for j, d in zip(prepared.plan.jobs, run_dirs, strict=True)]
        labels = {j.num: " ".join(j.overrides) for j in prepared.plan.jobs}
        with locks.launch_lock(sweep_dir):
            err.print(f"sweep {sweep_dir}  ({len(run_dirs)} jobs)", highlight=False, markup=False)
            if runner.name == "local":
                return launch(runner, sweep_dir, refs, labels, as_json)
            return submit(runner, sweep_dir, refs, as_json, wait)
    finally:
        early_server.cancel()  # unless the launch took it


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
