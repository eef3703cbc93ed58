"""Checks made before anything is written: every job composes, the app exists, the
output root is writable."""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeper_cli.errors import BadInput
from sweeper_cli.plan import Plan, one_line
from sweeper_cli.settings import Settings

if TYPE_CHECKING:
    from sweeper_cli.app import Target


def compose_jobs(plan: Plan) -> None:
    """Compose every job's config, as Hydra's BasicSweeper validates a batch, but fast.

    A composition is the defaults list (set by the config-group overrides) merged, then
    the value overrides applied in order (Hydra's `_load_configuration_impl`). Jobs that
    share their group overrides share the merged part, so it is composed once per group
    combination and each job only applies its value overrides to a copy: about 5 ms a job
    instead of about 60 ms (well under 1 ms where the job only
    assigns plain values). Any failure is re-checked with Hydra's full composition of
    that job, so the error is Hydra's own.
    """
    import copy

    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    failures = (HydraException, OmegaConfBaseException, ValueError)
    parser = OverridesParser.create()
    repository = plan.loader.repository
    bases: dict[tuple[str, ...], Any] = {}
    for job in plan.jobs:
        try:
            parsed = parser.parse_overrides(list(job.overrides))
            groups = tuple(
                str(o.input_line)
                for o in parsed
                if repository.group_exists(o.key_or_group) and not isinstance(o.value(), dict)
            )
            values = [o for o in parsed if o.input_line not in groups]
            if groups not in bases:
                bases[groups] = plan.loader.load_sweep_config(plan.config, list(groups))
            # Plain `key=value` assignments give the same result whatever the previous
            # value, so they may reuse the composed base; additions, deletions and dict
            # merges need a fresh copy.
            plain = all(
                o.type == OverrideType.CHANGE and not isinstance(o.value(), dict) for o in values
            )
            target = bases[groups] if plain else copy.deepcopy(bases[groups])
            ConfigLoaderImpl._apply_overrides_to_config(values, target)
        except failures:
            _compose_fully(plan, job.num, job.overrides)


def _compose_fully(plan: Plan, num: int, overrides: tuple[str, ...]) -> None:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        plan.loader.load_sweep_config(plan.config, list(overrides))
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        shown = " ".join(overrides) or "(no overrides)"
        raise BadInput(f"job {num} ({shown}): {one_line(exc)}") from exc


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


def check_app(target: Target, settings: Settings) -> None:
    """The app must exist: the command on PATH, the script as a file, the module where its
    interpreter finds it from the project root (as `python -m` there would)."""
    head = target.argv
    if settings["command"]:
        if shutil.which(head[0]) is None:
            raise BadInput(f"command {head[0]!r} not found (from --command)")
        return
    if settings["script"] or "-m" not in head:
        script = Path(head[-1])
        if not script.is_file():
            raise BadInput(f"script {script} not found")
        return
    module = head[head.index("-m") + 1]
    search = [*target.python_path, settings.project_root]
    if find_module(module, search):
        return
    python = settings["python"]
    if python and _module_in(python, module, search, settings.project_root):
        return  # installed in the app's own interpreter
    where = ", ".join(str(p) for p in search)
    raise BadInput(
        f"module {module!r} not found on {where} or the interpreter's path "
        "(set --module, or python_path in [tool.thesis-sweep])"
    )


def _module_in(python: str, module: str, search: Sequence[Path], cwd: Path) -> bool:
    """Whether `python` finds `module` (asked without importing it)."""
    import subprocess

    code = "import importlib.util,sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in search)}
    try:
        done = subprocess.run(
            [python, "-c", code, module], cwd=cwd, env=env, capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def check_python(python: str | None) -> None:
    """The `python` setting must name an interpreter that exists (checked before writing)."""
    if python is not None and shutil.which(python) is None:
        raise BadInput(
            f"python {python!r} not found or not executable (from the python setting or "
            "THESIS_SWEEP_PYTHON)"
        )


def check_output_root(root: Path) -> None:
    if "${" in str(root):
        raise BadInput(f"output root {root} contains '${{', which Hydra would re-interpolate")
    if any(ch in str(root) for ch in "\n\r\0"):
        raise BadInput(f"output root {str(root)!r} contains a line break or NUL character")
    existing = root
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"output root {root} is not writable ({existing} is not a writable folder)")
