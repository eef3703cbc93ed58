"""`thesis-sweep resume`: relaunch the jobs of a sweep that did not succeed."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeper_cli import status, store
from sweeper_cli.backends import JobRef, get_backend
from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, SWEEP_ARG, locate
from sweeper_cli.cli.console import print_json, stderr
from sweeper_cli.errors import EXIT_OK, BadInput
from sweeper_cli.profiles import Profile
from sweeper_cli.render import status_json


def resume(
    sweep: str = SWEEP_ARG,
    failed_only: bool = typer.Option(False, "--failed-only", help="Only jobs that failed."),
    jobs: str = typer.Option(None, "--jobs", help="Only these jobs, e.g. 3,5,7-9."),
    parallel: int = typer.Option(1, "-j", "--parallel", min=1, help="Local jobs at once."),
    max_parallel: int = typer.Option(
        None, "--max-parallel", min=1, help="Cluster jobs running at once."
    ),
    wait: bool = typer.Option(False, "--wait", help="Cluster: follow until the sweep ends."),
    gpus: str = typer.Option(None, "--gpus", help="GPUs to share round-robin, e.g. 0,1."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed job."),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse when the git commit changed or the tree got dirty."
    ),
    force: bool = typer.Option(
        False, "--force", help="Skip the check that the sweep still plans the same jobs."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be relaunched."),
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
) -> int:
    """Relaunch failed, cancelled and lost jobs in their own run dirs.

    A job whose run dir or job.json was lost gets them back first; a sweep whose creation
    was interrupted is completed. SWEEP is a sweep folder, its name or a unique part of it
    (default: the newest).
    """
    from sweeper_cli import lifecycle
    from sweeper_cli.cli.launching import launch, parse_gpus, submit

    sweep_dir = locate(sweep, output_root)
    nums = lifecycle.parse_job_list(jobs)
    gpu_list = parse_gpus(gpus)
    err = stderr()
    with store.launch_lock(sweep_dir):
        view = status.observe(sweep_dir)
        header = view.header
        if header.adopted:
            raise BadInput(
                "this sweep was adopted from a Hydra --multirun: thesis-sweep does not know "
                "how its jobs were launched; run them again with thesis-sweep run"
            )
        profile_doc = header.raw.get("profile")
        profile = Profile.from_json(
            profile_doc if isinstance(profile_doc, dict) else None, header.backend
        )
        runner = get_backend(
            header.backend,
            profile,
            max_parallel=parallel if header.backend == "local" else max_parallel,
            gpus=gpu_list,
            fail_fast=fail_fast,
            python=header.text("python"),
        )
        choice = lifecycle.choose_for_resume(view, nums, failed_only)
        for job, why in choice.skipped:
            if nums is not None or why != "succeeded":
                err.print(f"job {job.num}: skipped, {why}", highlight=False)
        complete = store.is_complete(sweep_dir)
        if not choice.relaunch and complete:
            err.print(f"nothing to resume in {sweep_dir.name}", highlight=False)
            status.refresh_index(view)
            if as_json:
                print_json(status_json(view))
            return EXIT_OK if status.sweep_exit_code(view) == 0 else 1
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
            return EXIT_OK
        store.require_writable(sweep_dir, "resume")
        for job in choice.relaunch:
            if job.num in needed:
                lifecycle.rebuild(view, job)
                err.print(f"job {job.num}: rebuilt its {needed[job.num]}", highlight=False)
        if not complete:
            lifecycle.complete_creation(view, plan)
            err.print(f"completed the interrupted creation of {sweep_dir.name}", highlight=False)
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
