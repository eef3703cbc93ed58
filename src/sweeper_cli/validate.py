"""Checks made before anything is written: every job composes, the app exists, the
output root is writable."""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from sweeper_cli.errors import BadInput
from sweeper_cli.plan import Plan, one_line


def compose_jobs(plan: Plan) -> None:
    """Compose each job's config as Hydra's BasicSweeper does before launching a batch."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    for job in plan.jobs:
        try:
            plan.loader.load_sweep_config(plan.config, list(job.overrides))
        except (HydraException, OmegaConfBaseException) as exc:
            shown = " ".join(job.overrides) or "(no overrides)"
            raise BadInput(f"job {job.num} ({shown}): {one_line(exc)}") from exc


def find_module(module: str, search: Sequence[Path]) -> bool:
    """Whether `module` can be found on `search` + sys.path, without importing anything."""
    parts = module.split(".")
    paths: list[str] | None = [str(p) for p in search] + list(sys.path)
    for depth, part in enumerate(parts):
        spec = importlib.machinery.PathFinder.find_spec(part, paths)
        if spec is None:
            return False
        if depth < len(parts) - 1:
            paths = list(spec.submodule_search_locations or [])
            if not paths:
                return False
    return True


def check_app(command: Sequence[str] | None, module: str, search: Sequence[Path]) -> None:
    if command:
        if shutil.which(command[0]) is None:
            raise BadInput(f"command {command[0]!r} not found (from --command)")
        return
    if not find_module(module, search):
        where = ", ".join(str(p) for p in search) or "sys.path"
        raise BadInput(
            f"training module {module!r} not found on {where} or sys.path "
            "(set --module, or python_path in [tool.thesis-sweep])"
        )


def check_output_root(root: Path) -> None:
    if "${" in str(root):
        raise BadInput(f"output root {root} contains '${{', which Hydra would re-interpolate")
    existing = root
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"output root {root} is not writable ({existing} is not a writable folder)")
