"""`thesis-sweep status`: what each job of a sweep is doing now. Never imports Hydra."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, SWEEP_ARG, locate
from sweeper_cli.cli.console import print_json, stderr, stdout
from sweeper_cli.cli.render import status_json, status_table
from sweeper_cli.errors import EXIT_STILL_RUNNING
from sweeper_cli.project.settings import resolve
from sweeper_cli.state import status as core
from sweeper_cli.state import views
from sweeper_cli.states import Cause, State

if TYPE_CHECKING:
    from rich.table import Table


def table_of(view: views.SweepView) -> Table:
    """The status table; a failed job's note is the last line of its output (a lost
    job's is the reason it is lost)."""
    own = (Cause.EXIT_CODE, Cause.SIGNAL)  # the app's own failure: its output says why
    lines = {
        job.num: line
        for job in view.jobs
        if job.state is State.FAILED
        and job.cause in own
        and (line := core.last_meaningful_line(job.run_dir))
    }
    return status_table(view, lines)


def follow(sweep_dir: Path, interval: float, live: bool, poll: float) -> views.SweepView:
    """Observe the sweep every `interval` seconds until every job has ended, asking its
    scheduler at most once every `poll` seconds (the run dirs are read in between)."""
    view = core.observe(sweep_dir)
    asked = time.monotonic()

    def again() -> views.SweepView:
        nonlocal asked
        ask = time.monotonic() - asked >= poll
        if ask:
            asked = time.monotonic()
        return core.observe(sweep_dir, ask_scheduler=ask, answers=view.answers)

    if not live:
        while views.sweep_exit_code(view) == EXIT_STILL_RUNNING:
            time.sleep(interval)
            view = again()
        return view
    from rich.live import Live

    with Live(table_of(view), console=stdout(), auto_refresh=False) as screen:
        while views.sweep_exit_code(view) == EXIT_STILL_RUNNING:
            time.sleep(interval)
            view = again()
            screen.update(table_of(view), refresh=True)
    return view


def status(
    sweep: str = SWEEP_ARG,
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
    watch: bool = typer.Option(
        False, "--watch", help="Refresh until every job has ended; exit with the sweep's code."
    ),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between --watch refreshes."),
    poll: float = typer.Option(
        None,
        "--poll",
        help="Cluster: ask the scheduler at most every POLL seconds while watching "
        "(default 30, setting poll_seconds); the run dirs are read at every refresh.",
    ),
) -> int:
    """Show a sweep's jobs. Exit 0 all succeeded, 1 any failed/lost, 4 still queued/running.

    SWEEP is a sweep folder, its name or a unique part of it (default: the newest).
    """
    sweep_dir = locate(sweep, output_root)
    live = watch and not as_json and stdout().is_terminal  # a pipe gets the end only
    if watch:
        poll = resolve({"poll_seconds": poll})["poll_seconds"]
        view = follow(sweep_dir, interval, live=live, poll=poll)
    else:
        view = core.observe(sweep_dir)
    if view.warning:
        stderr().print(f"warning: {view.warning}", style="yellow", highlight=False)
    core.refresh_index(view)
    if as_json:
        print_json(status_json(view))
    elif not live:
        stdout().print(table_of(view))
    return views.sweep_exit_code(view)
