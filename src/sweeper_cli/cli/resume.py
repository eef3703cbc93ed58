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
    """Relaunch failed, cancelled, lost and never-started jobs in their own run dirs.

    SWEEP is a sweep folder, its name or a unique part of it (default: the newest).
    """
    from sweeper_cli import lifecycle
    from sweeper_cli.cli.launching import launch, parse_gpus, submit

    sweep_dir = locate(sweep, output_root)
    nums = lifecycle.parse_job_list(jobs)
    gpu_list = parse_gpus(gpus)
    err = stderr()
    with store.launch_lock(sweep_dir):
        view = status.observe(sweep_dir)
        backend = view.index["sweep"].get("backend", "local")
        profile = Profile.from_json(view.index["sweep"].get("profile"), backend)
        runner = get_backend(
            backend,
            profile,
            max_parallel=parallel if backend == "local" else max_parallel,
            gpus=gpu_list,
            fail_fast=fail_fast,
            python=view.index["sweep"].get("python"),
        )
        if view.index["sweep"].get("adopted"):
            raise BadInput(
                "this sweep was adopted from a Hydra --multirun: thesis-sweep does not know "
                "how its jobs were launched; run them again with thesis-sweep run"
            )
        choice = lifecycle.choose_for_resume(view, nums, failed_only)
        for job, why in choice.skipped:
            if nums is not None or why != "succeeded":
                err.print(f"job {job.num}: skipped, {why}", highlight=False)
        if not choice.relaunch:
            err.print(f"nothing to resume in {sweep_dir.name}", highlight=False)
            status.refresh_index(view)
            if as_json:
                print_json(status_json(view))
            return EXIT_OK if status.sweep_exit_code(view) == 0 else 1
        drift = lifecycle.git_drift(view.index, Path.cwd())
        if drift and strict:
            raise BadInput(f"{drift}; --strict refuses to resume")
        if drift:
            err.print(f"warning: {drift}", style="yellow", highlight=False)
        if not force:
            lifecycle.check_replan(view.index)
        nums_text = ", ".join(str(j.num) for j in choice.relaunch)
        if dry_run:
            err.print(f"would relaunch job(s) {nums_text}", highlight=False)
            return EXIT_OK
        for job in choice.relaunch:
            lifecycle.requeue(job)
        if backend == "local":
            lifecycle.claim_launcher(view)
        status.refresh_index(
            status.SweepView(sweep_dir, view.index, status.observe(sweep_dir).jobs)
        )
        err.print(f"resuming {sweep_dir.name}: job(s) {nums_text}", highlight=False)
        refs = [JobRef(j.num, j.run_dir) for j in choice.relaunch]
        labels = {j.num: " ".join(j.overrides) for j in choice.relaunch}
        if backend == "local":
            return launch(runner, sweep_dir, refs, labels, as_json)
        return submit(runner, sweep_dir, refs, as_json, wait)
