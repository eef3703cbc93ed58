"""Launch jobs of a created sweep with live progress, then report: shared by run/resume."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweeper_cli.cli.common import sweep_ref
from sweeper_cli.cli.console import print_json, stderr
from sweeper_cli.cli.progress import Reporter
from sweeper_cli.cli.render import status_json
from sweeper_cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    EXIT_TERMINATED,
    BadInput,
    Terminated,
)
from sweeper_cli.launch.backends.base import JobRef
from sweeper_cli.launch.gpus import GpuPool, parse_gpus
from sweeper_cli.project.profiles import Profile
from sweeper_cli.project.settings import Settings
from sweeper_cli.state import status, views


def local_pool(
    settings: Settings, profile: Profile, gpus: str | None, per_job: int | None, per_gpu: int | None
) -> GpuPool | None:
    """The local GPUs' seats from the flags, else the profile, else the settings."""
    devices = parse_gpus(gpus or profile.devices or settings["gpus"])
    if not devices:
        if per_job or per_gpu:
            raise BadInput("--gpus-per-job and --jobs-per-gpu go with --gpus")
        return None
    return GpuPool(
        devices,
        per_gpu=per_gpu or profile.jobs_per_gpu or settings["jobs_per_gpu"],
        per_job=per_job or profile.gpus_per_job or settings["gpus_per_job"],
    )


def local_parallel(settings: Settings, flag: int | None, pool: GpuPool | None) -> int:
    """-j: the flag or setting; with GPUs and no -j, one job per GPU slot."""
    if flag is not None:
        return flag
    if pool is not None and not settings.is_explicit("jobs"):
        return max(1, pool.slots)
    return int(settings["jobs"])


def launch(
    runner: Any,
    sweep_dir: Path,
    refs: Sequence[JobRef],
    labels: dict[int, str],
    as_json: bool,
) -> int:
    """Run `refs` through the backend and print the outcome. The caller holds the
    sweep's launch lock (`locks.launch_lock`)."""
    stopped: KeyboardInterrupt | None = None
    with Reporter(len(refs), labels, stderr()) as reporter:
        try:
            runner.launch(sweep_dir, refs, reporter)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM, after every job stopped
            stopped = exc
    view = status.observe(sweep_dir)
    status.refresh_index(view)
    counts = ", ".join(f"{n} {s}" for s, n in view.counts().items() if n)
    stderr().print(f"done: {counts}  (thesis-sweep status {sweep_ref(sweep_dir)})", highlight=False)
    if as_json:
        print_json(status_json(view))
    if stopped is not None:
        return EXIT_TERMINATED if isinstance(stopped, Terminated) else EXIT_INTERRUPTED
    return EXIT_OK if views.sweep_exit_code(view) == 0 else EXIT_JOBS_FAILED


def submit(runner: Any, sweep_dir: Path, refs: Sequence[JobRef], as_json: bool, wait: bool) -> int:
    """Submit `refs` to a cluster backend in one submission; optionally follow it."""
    submission = runner.launch(sweep_dir, refs, None)
    stderr().print(
        f"submitted {len(refs)} job(s) to {runner.name} as {submission.scheduler_id} "
        f"(files in {sweep_dir / 'submit'}); follow with: thesis-sweep status --watch "
        f"{sweep_ref(sweep_dir)}",
        highlight=False,
    )
    view = status.observe(sweep_dir)
    if wait:
        from sweeper_cli.cli.status import follow
        from sweeper_cli.project.settings import resolve

        poll = resolve({})["poll_seconds"]
        view = follow(sweep_dir, interval=2.0, live=not as_json, poll=poll)
    status.refresh_index(view)
    if as_json:
        print_json(status_json(view))
    if not wait:
        return EXIT_OK
    return EXIT_OK if views.sweep_exit_code(view) == 0 else EXIT_JOBS_FAILED
