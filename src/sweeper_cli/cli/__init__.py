"""Command-line interface: the only layer that imports typer.

Each command parses flags, calls the core, renders, and returns an exit code;
`handler.command` turns every SweepError into one line on stderr and its exit code.
"""

from __future__ import annotations

import os

import typer

from sweeper_cli import __version__
from sweeper_cli.cli import adopt as adopt_cmd
from sweeper_cli.cli import cancel as cancel_cmd
from sweeper_cli.cli import compare as compare_cmd
from sweeper_cli.cli import list_cmd
from sweeper_cli.cli import logs as logs_cmd
from sweeper_cli.cli import resume as resume_cmd
from sweeper_cli.cli import run as run_cmd
from sweeper_cli.cli import status as status_cmd
from sweeper_cli.cli.handler import command

app = typer.Typer(
    name="thesis-sweep",
    help="Sweep orchestrator for Hydra apps: one ordinary single run per combination, "
    "in outputs/runs/, with a metadata-only folder in outputs/multiruns/.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("run", context_settings=run_cmd.CONTEXT)(command(run_cmd.run))
app.command("status")(command(status_cmd.status))
app.command("list")(command(list_cmd.list_sweeps))
app.command("logs")(command(logs_cmd.logs))
app.command("resume")(command(resume_cmd.resume))
app.command("cancel")(command(cancel_cmd.cancel))
app.command("compare")(command(compare_cmd.compare))
app.command("adopt")(command(adopt_cmd.adopt))


def _version_callback(value: bool) -> None:
    if value:
        print(f"thesis-sweep {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks on errors (also THESIS_SWEEP_DEBUG=1)."
    ),
) -> None:
    if debug:
        os.environ["THESIS_SWEEP_DEBUG"] = "1"


def main() -> None:
    """Console entry point."""
    app(prog_name="thesis-sweep")
