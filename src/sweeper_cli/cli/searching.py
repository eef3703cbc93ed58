"""Start a search's controller and follow it: shared by `run` and `resume`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sweeper_cli.cli.common import sweep_ref
from sweeper_cli.cli.console import print_json, stderr, stdout
from sweeper_cli.cli.render import plural, search_line, status_json
from sweeper_cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STILL_RUNNING,
    EXIT_TERMINATED,
    Terminated,
)
from sweeper_cli.launch.gpus import GpuPool
from sweeper_cli.project.profiles import Profile
from sweeper_cli.project.settings import Settings
from sweeper_cli.state import status, views

FOLLOW_INTERVAL = 0.5


def options(
    settings: Settings,
    backend: str,
    jobs: int | None,
    pool: GpuPool | None,
    profile: Profile | None,
    max_parallel: int | None,
) -> dict[str, Any]:
    """What the controller needs to launch the trials as `run`/`resume` were told to."""
    from sweeper_cli.cli.launching import local_parallel

    if backend == "local":
        gpus = list(pool.gpus) if pool else None
        per = {"per_gpu": pool.per_gpu, "per_job": pool.per_job} if pool else {}
        parallel = local_parallel(settings, jobs, pool)
        return {"jobs": parallel, "gpus": gpus, **per, "warm": settings["warm"]}
    return {
        "profile": None if profile is None else profile.as_json(),
        "max_parallel": max_parallel,
        "poll": float(settings["poll_seconds"]),
    }


def describe(record: dict[str, Any]) -> list[str]:
    """The search a sweep runs, in a few lines (for `run --dry-run` and the start)."""
    directions = ", ".join(
        f"{d} {o}" for d, o in zip(record["directions"], record["objectives"], strict=True)
    )
    seed = f" (seed {record['seed']})" if record.get("seed") is not None else ""
    lines = [
        f"{plural(record['n_trials'], 'trial')} in batches of {record['n_jobs']}, "
        f"{record['sampler']}{seed}, {directions}"
    ]
    width = max((len(k) for k in record["params"]), default=0)
    lines += [f"  {key:<{width}}  {dist}" for key, dist in record["params"].items()]
    fixed = " ".join(f"{k}={v}" for k, v in record["fixed"].items())
    if fixed:
        lines.append(f"  every trial: {fixed}")
    return lines


def start(sweep_dir: Path, opts: dict[str, Any], follow: bool, as_json: bool) -> int:
    """Start the controller; follow the search to its end when `follow` (Ctrl-C or
    SIGTERM then stop it), else return at once."""
    from sweeper_cli.search.process import spawn

    err = stderr()
    pid = spawn(sweep_dir, opts)
    log = sweep_dir / "search" / "controller.log"
    err.print(f"search {sweep_dir}: controller {pid} (log: {log})", highlight=False)
    if not follow:
        ref = sweep_ref(sweep_dir)
        err.print(
            f"it runs without this terminal; follow with: thesis-sweep status --watch {ref}; "
            f"stop with: thesis-sweep cancel {ref}",
            highlight=False,
        )
        if as_json:
            print_json(status_json(status.observe(sweep_dir)))
        return EXIT_OK
    try:
        view = watch(sweep_dir)
    except KeyboardInterrupt as exc:
        from sweeper_cli.state import lifecycle

        why = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
        err.print(f"stopping the search: {why}", style="yellow", highlight=False)
        view = lifecycle.stop_search(sweep_dir, why)
        finish(view, as_json)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    return finish(view, as_json)


def watch(sweep_dir: Path) -> views.SweepView:
    """Follow the search until its controller has ended, saying what happens (stderr)."""
    err = stderr()
    seen: set[int] = set()
    told: set[int] = set()
    view = status.observe(sweep_dir, ask_scheduler=False)
    asked = time.monotonic()
    while True:
        for job in view.jobs:
            if job.num not in seen:  # a new trial's job
                seen.add(job.num)
                err.print(f"job {job.num}: {' '.join(job.overrides)}", highlight=False)
        search = view.search
        assert search is not None
        for num, trial in sorted(search.trials.items()):
            if trial.state == "running" or num in told:
                continue
            told.add(num)
            if trial.state == "complete" and trial.values is not None:
                shown = ", ".join(f"{v:.6g}" for v in trial.values)
                text = f"trial {trial.number} (job {num}): {', '.join(search.objectives)} = {shown}"
            else:
                text = f"trial {trial.number} (job {num}) {trial.state}: {trial.note or ''}"
            err.print(text.rstrip(": "), highlight=False)
        if views.sweep_exit_code(view) != EXIT_STILL_RUNNING:
            return view
        time.sleep(FOLLOW_INTERVAL)
        ask = time.monotonic() - asked >= 30
        if ask:
            asked = time.monotonic()
        view = status.observe(sweep_dir, ask_scheduler=ask, answers=view.answers)


def finish(view: views.SweepView, as_json: bool) -> int:
    """Print the end of a followed search: its line and the table (or the JSON)."""
    assert view.search is not None
    stderr().print(search_line(view.search), highlight=False)
    status.refresh_index(view)
    if as_json:
        print_json(status_json(view))
    else:
        from sweeper_cli.cli.status import table_of

        stdout().print(table_of(view))
    return views.sweep_exit_code(view)
