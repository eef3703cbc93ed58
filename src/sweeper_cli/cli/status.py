"""`thesis-sweep status`: what each job of a sweep is doing now. Never imports Hydra."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeper_cli import status as core
from sweeper_cli import store
from sweeper_cli.cli.console import print_json, stdout
from sweeper_cli.render import status_json, status_table
from sweeper_cli.settings import resolve
from sweeper_cli.states import State


def output_root_for(flag: str | None) -> Path:
    """The output root to search for sweeps: flag, env, pyproject, else ./outputs."""
    settings = resolve({"output_root": flag})
    root = settings["output_root"]
    return Path(root) if root is not None else Path.cwd() / "outputs"


def status(
    sweep: str = typer.Argument(
        None, help="Sweep folder, its name or a unique part of it (default: newest)."
    ),
    output_root: str = typer.Option(None, "--output-root", help="Where to look for sweeps."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> int:
    """Show the jobs of a sweep. Exit 0 all succeeded, 1 any failed/lost, 4 still running."""
    sweep_dir = store.find_sweep(output_root_for(output_root), sweep)
    view = core.observe(sweep_dir)
    core.refresh_index(view)
    if as_json:
        print_json(status_json(view))
    else:
        failed = (State.FAILED, State.LOST)
        lines = {
            job.num: line
            for job in view.jobs
            if job.state in failed and (line := core.last_meaningful_line(job.run_dir))
        }
        stdout().print(status_table(view, lines))
    return core.sweep_exit_code(view)
