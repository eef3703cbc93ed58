"""Options and look-ups shared by the commands that act on an existing sweep."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeper_cli import store
from sweeper_cli.settings import resolve

SWEEP_ARG = typer.Argument(
    None, help="Sweep folder, its name or a unique part of it (default: the newest)."
)
OUTPUT_ROOT = typer.Option(
    None,
    "--output-root",
    help="Where to look for sweeps (default: settings, else the project's outputs/).",
)
JSON = typer.Option(False, "--json", help="Print JSON on stdout.")


def output_root_for(flag: str | None) -> Path:
    """The output root to search for sweeps: flag, env, pyproject, else the project
    root's outputs/ (from any subdirectory of the project)."""
    settings = resolve({"output_root": flag})
    root = settings["output_root"]
    return Path(root) if root is not None else settings.project_root / "outputs"


def locate(sweep: str | None, output_root: str | None) -> Path:
    return store.find_sweep(output_root_for(output_root), sweep)
