"""`thesis-sweep remove`: delete a sweep folder and the run dirs it points at."""

from __future__ import annotations

import sys

import typer

from sweeper_cli.cli.common import OUTPUT_ROOT, SWEEP_ARG, output_root_for
from sweeper_cli.cli.console import stderr
from sweeper_cli.errors import EXIT_OK, BadInput


def remove(
    sweep: str = SWEEP_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (needed without a terminal)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted."),
    output_root: str = OUTPUT_ROOT,
) -> int:
    """Delete a sweep: its folder in multiruns/ and its run dirs in runs/.

    Also removes a sweep whose creation was interrupted. Refuses while jobs are queued or
    running (cancel them first). SWEEP is a sweep folder, its name or a unique part of it
    (default: the newest).
    """
    from sweeper_cli.state import lifecycle
    from sweeper_cli.store import locks, sweep_dirs

    sweep_dir = sweep_dirs.find_sweep(output_root_for(output_root), sweep, complete_only=False)
    removal = lifecycle.plan_removal(sweep_dir)
    if removal.busy:
        busy = ", ".join(map(str, removal.busy[:10]))
        raise BadInput(
            f"job(s) {busy} of {sweep_dir.name} are queued or running: "
            "thesis-sweep cancel them first"
        )
    err = stderr()
    runs = sweep_dir.parent.parent / "runs"
    what = f"{sweep_dir} and {len(removal.run_dirs)} run dir(s) under {runs}"
    if dry_run:
        err.print(f"would delete {what}", highlight=False, markup=False)
        for run_dir in removal.run_dirs:
            err.print(f"  {run_dir}", highlight=False, markup=False)
    for run_dir, why in removal.left:
        verb = "would leave" if dry_run else "leaves"
        err.print(f"{verb} {run_dir}: {why}", highlight=False, markup=False)
    if dry_run:
        return EXIT_OK
    locks.require_writable(sweep_dir.parent, "remove the sweep")
    if not yes:
        if not sys.stdin.isatty():
            raise BadInput(f"remove deletes {what}: add --yes to confirm")
        if not typer.confirm(f"delete {what}?", default=False):
            err.print("nothing deleted", highlight=False)
            return EXIT_OK
    lifecycle.remove(removal)
    err.print(f"deleted {what}", highlight=False, markup=False)
    return EXIT_OK
