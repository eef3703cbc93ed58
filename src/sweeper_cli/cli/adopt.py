"""`thesis-sweep adopt`: turn a Hydra `--multirun` folder into thesis-sweep's layout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sweeper_cli.cli.console import stderr, stdout
from sweeper_cli.errors import EXIT_OK, BadInput
from sweeper_cli.store import locks

if TYPE_CHECKING:  # the core is imported when the command runs, not at start-up
    from sweeper_cli.results.adopt import AdoptPlan


def _same_flags(
    plan: AdoptPlan, output_root: Path | None, name: str | None, success_file: str | None
) -> None:
    """A saved plan is finished as planned: refuse flags that would change it."""
    given = {
        "--name": (name, plan.name),
        "--output-root": (output_root and str(output_root.resolve()), plan.output_root),
        "--success-file": (success_file, plan.success_file),
    }
    for flag, (now, then) in given.items():
        if now is not None and now != then:
            raise BadInput(
                f"an interrupted adopt of this folder used {flag} {then}: re-run it "
                f"without {flag} (or with the same) to finish it"
            )


def adopt(
    multirun_dir: Path = typer.Argument(
        ..., help="A folder made by Hydra's --multirun (multirun.yaml and 0/, 1/, ...)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the moves; change nothing."),
    name: str = typer.Option(
        None, "--name", help="Sweep name for the run folders (default: from the folder name)."
    ),
    output_root: Path = typer.Option(
        None,
        "--output-root",
        help="Root of runs/ (default: the folder's grandparent when its parent is multiruns/).",
    ),
    success_file: str = typer.Option(
        None,
        "--success-file",
        metavar="GLOB",
        help="A job succeeded only if a file matches GLOB in its folder (e.g. facts/*.json).",
    ),
) -> int:
    """Move each numbered job of a Hydra multirun folder to runs/run_<TS>_<name>_job<N>/
    and write runs_index.json and runptrs/, so status and compare work on it.

    Refuses (exit 2, nothing moved) when a target exists or the folder is not a Hydra
    multirun. An interrupted adopt is finished by running it again.
    """

    folder = multirun_dir.expanduser().resolve()
    if not folder.is_dir():
        raise BadInput(f"{multirun_dir} is not a folder")
    with locks.folder_lock(folder, f"another thesis-sweep process is adopting {folder}"):
        return _adopt(folder, dry_run, name, output_root, success_file)


def _adopt(
    folder: Path,
    dry_run: bool,
    name: str | None,
    output_root: Path | None,
    success_file: str | None,
) -> int:
    from sweeper_cli.planning.naming import check_pattern
    from sweeper_cli.project.settings import resolve
    from sweeper_cli.results import adopt as core

    out, err = stdout(), stderr()
    plan = core.saved_plan(folder)
    if plan is not None:
        _same_flags(plan, output_root, name, success_file)
        core.check_resumable(plan)
        err.print(f"finishing an interrupted adopt of {folder.name}", highlight=False)
    else:
        pattern = resolve({})["run_dir_pattern"]
        check_pattern(pattern, "run_dir_pattern", True)
        plan = core.plan_adoption(folder, output_root, name, pattern, success_file)
    for note in plan.notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    if plan.left_in_place:
        left = ", ".join(plan.left_in_place)
        err.print(f"note: left in place (not Hydra job folders): {left}", markup=False)
    if dry_run:
        out.print(f"would adopt {len(plan.jobs)} job(s) of {folder}:", highlight=False)
        for job in plan.jobs:
            why = f"  ({job.reason})" if job.reason else ""
            out.print(
                f"  {job.source}/ -> {plan.target(job)}  [{job.state}]{why}",
                highlight=False,
                markup=False,
            )
        out.print("then write runs_index.json and runptrs/ in the folder", highlight=False)
        return EXIT_OK

    def report(job: core.AdoptJob, how: str) -> None:
        verb = {"rename": "moved", "copy": "copied", "done": "already moved"}[how]
        err.print(f"job {job.num}: {verb} -> {plan.target(job)}", highlight=False, markup=False)

    core.execute(plan, sys.argv, report)
    counts: dict[str, int] = {}
    for job in plan.jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    out.print(
        f"adopted {len(plan.jobs)} job(s) of {folder.name} ({summary}; states inferred)"
        f"  (thesis-sweep status {folder})",
        highlight=False,
        markup=False,
    )
    return EXIT_OK
