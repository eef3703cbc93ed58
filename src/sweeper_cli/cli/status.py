"""`thesis-sweep status`: what each job of a sweep is doing now. Never imports Hydra."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table

from sweeper_cli import status as core
from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, SWEEP_ARG, locate
from sweeper_cli.cli.console import print_json, stdout
from sweeper_cli.errors import EXIT_STILL_RUNNING
from sweeper_cli.render import status_json, status_table
from sweeper_cli.states import State


def _table(view: core.SweepView) -> Table:
    failed = (State.FAILED, State.LOST)
    lines = {
        job.num: line
        for job in view.jobs
        if job.state in failed and (line := core.last_meaningful_line(job.run_dir))
    }
    return status_table(view, lines)


def _watch(sweep_dir: Path, interval: float) -> core.SweepView:
    view = core.observe(sweep_dir)
    console = stdout()
    with Live(_table(view), console=console, auto_refresh=False) as live:
        while core.sweep_exit_code(view) == EXIT_STILL_RUNNING:
            time.sleep(interval)
            view = core.observe(sweep_dir)
            live.update(_table(view), refresh=True)
    return view


def status(
    sweep: str = SWEEP_ARG,
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
    watch: bool = typer.Option(
        False, "--watch", help="Refresh until every job has ended; exit with the sweep's code."
    ),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between --watch refreshes."),
) -> int:
    """Show a sweep's jobs. Exit 0 all succeeded, 1 any failed/lost, 4 still queued/running."""
    sweep_dir = locate(sweep, output_root)
    view = _watch(sweep_dir, interval) if watch and not as_json else core.observe(sweep_dir)
    if watch and as_json:
        while core.sweep_exit_code(view) == EXIT_STILL_RUNNING:
            time.sleep(interval)
            view = core.observe(sweep_dir)
    core.refresh_index(view)
    if as_json:
        print_json(status_json(view))
    elif not watch:
        stdout().print(_table(view))
    return core.sweep_exit_code(view)
