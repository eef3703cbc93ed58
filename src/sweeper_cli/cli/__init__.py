"""Command-line interface: the only layer that imports typer.

Each command parses flags, calls the core, renders, and returns an exit code;
`handler.command` turns every SweepError into one line on stderr and its exit code, and
`main` does the same for usage errors (a bad flag value, an unknown command).

The top wing: it uses every other one, and nothing but the entry point (`__main__`) uses it.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import typer

from sweeper_cli import __version__
from sweeper_cli.cli import adopt as adopt_cmd
from sweeper_cli.cli import campaign as campaign_cmd
from sweeper_cli.cli import cancel as cancel_cmd
from sweeper_cli.cli import compare as compare_cmd
from sweeper_cli.cli import init as init_cmd
from sweeper_cli.cli import list_cmd
from sweeper_cli.cli import logs as logs_cmd
from sweeper_cli.cli import remove as remove_cmd
from sweeper_cli.cli import resume as resume_cmd
from sweeper_cli.cli import run as run_cmd
from sweeper_cli.cli import status as status_cmd
from sweeper_cli.cli.escape import printable
from sweeper_cli.cli.handler import command
from sweeper_cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

app = typer.Typer(
    name="thesis-sweep",
    help="Sweep orchestrator for Hydra apps: one ordinary single run per combination, "
    "in outputs/runs/, with a metadata-only folder in outputs/multiruns/.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("init")(command(init_cmd.init))
app.command("run", context_settings=run_cmd.CONTEXT)(command(run_cmd.run))
app.command("status")(command(status_cmd.status))
app.command("list")(command(list_cmd.list_sweeps))
app.command("logs")(command(logs_cmd.logs))
app.command("resume")(command(resume_cmd.resume))
app.command("cancel")(command(cancel_cmd.cancel))
app.command("remove")(command(remove_cmd.remove))
app.command("compare")(command(compare_cmd.compare))
app.command("adopt")(command(adopt_cmd.adopt))
app.add_typer(campaign_cmd.app, name="campaign")


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


def _one_line(message: str) -> str:
    """A click message on one line, each sentence once (click and typer both add their
    "Did you mean ...?")."""
    import re

    sentences = re.split(r"(?<=[.?!])\s+", " ".join(message.split()))
    return " ".join(dict.fromkeys(sentences))


def _terminate(_signum: int, _frame: Any) -> None:
    raise Terminated


def main() -> None:
    """Console entry point: usage errors are one line and exit 2, like every bad input;
    SIGTERM stops a sweep the way Ctrl-C does (exit 143)."""
    import click

    signal.signal(signal.SIGTERM, _terminate)
    cli = typer.main.get_command(app)
    try:
        code = cli.main(prog_name="thesis-sweep", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(EXIT_BAD_INPUT)
    except click.UsageError as exc:
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
        message = printable(_one_line(exc.format_message()))
        print(f"thesis-sweep: error: {message}{where}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        message = printable(" ".join(exc.format_message().split()))
        print(f"thesis-sweep: error: {message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        sys.exit(EXIT_TERMINATED)
    sys.exit(code if isinstance(code, int) else 0)
