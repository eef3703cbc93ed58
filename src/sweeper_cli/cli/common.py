"""Options and look-ups shared by the commands: those acting on an existing sweep, and
the launch options `run` and `resume` both take."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeper_cli.project.settings import resolve
from sweeper_cli.store import sweep_dirs

SWEEP_ARG = typer.Argument(
    None, help="Sweep folder, its name or a unique part of it (default: the newest)."
)
OUTPUT_ROOT = typer.Option(
    None,
    "--output-root",
    help="Where to look for sweeps (default: settings, else the project's outputs/).",
)
JSON = typer.Option(False, "--json", help="Print JSON on stdout.")
GPUS = typer.Option(
    None, "--gpus", help="Local GPUs for the jobs, e.g. 0,1 or all (one job per GPU)."
)
GPUS_PER_JOB = typer.Option(
    None, "--gpus-per-job", min=1, help="Local: distinct GPUs each job gets (default 1)."
)
JOBS_PER_GPU = typer.Option(
    None, "--jobs-per-gpu", min=1, help="Local: jobs that may share one GPU (default 1)."
)
PACK = typer.Option(
    None,
    "--pack",
    min=1,
    metavar="K",
    help="Cluster: run K jobs one after another in each scheduler job (one slot, one queue "
    "wait; each job keeps its own run dir, status and log; the pack asks for K times the "
    "profile's time).",
)
SUCCESS = typer.Option(
    None,
    "--success",
    metavar="GLOBS",
    help="Files a run dir must hold for its job to count as succeeded, comma-separated "
    "globs (e.g. facts/scalars.csv,best_val.pt); default: the profile's, else the setting.",
)
FAIL_FAST = typer.Option(False, "--fail-fast", help="Stop at the first failed job.")
WARM = typer.Option(
    None,
    "--warm",
    metavar="off|hydra|app",
    help="Local job starts: forked from a server that imported Hydra (hydra, the "
    "default), also the app's imports (app), or new interpreters (off).",
)


def output_root_for(flag: str | None) -> Path:
    """The output root to search for sweeps: flag, env, pyproject, else the project
    root's outputs/ (from any subdirectory of the project)."""
    settings = resolve({"output_root": flag})
    root = settings["output_root"]
    return Path(root) if root is not None else settings.project_root / "outputs"


def locate(sweep: str | None, output_root: str | None) -> Path:
    return sweep_dirs.find_sweep(output_root_for(output_root), sweep)


def sweep_ref(sweep_dir: Path) -> str:
    """How a command the user may paste names this sweep: its folder name where the default
    look-up finds it, else its path (quoted for the shell), e.g. after --output-root."""
    import shlex

    from sweeper_cli.errors import SweepError

    try:
        found = output_root_for(None) / "multiruns" / sweep_dir.name
        if found.resolve() == sweep_dir.resolve():
            return sweep_dir.name
    except (SweepError, OSError):
        pass
    return shlex.quote(str(sweep_dir))
