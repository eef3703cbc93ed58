"""Checks made before anything is written: every job composes, the app exists, the
output root is writable."""

from __future__ import annotations

import importlib.machinery
import itertools
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeper_cli.errors import BadInput
from sweeper_cli.planning.error_text import one_line
from sweeper_cli.planning.plan import Plan
from sweeper_cli.project.settings import Settings

if TYPE_CHECKING:
    from sweeper_cli.project.app import Target


def _failures() -> tuple[type[BaseException], ...]:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return (HydraException, OmegaConfBaseException, ValueError)


def compose_jobs(plan: Plan) -> None:
    """Compose every job's config, as Hydra's BasicSweeper validates a batch, but fast:
    BadInput with Hydra's own message for the first job that does not compose."""
    failing = failing_jobs(plan, first_only=True)
    if failing:
        job = plan.jobs[failing[0]]
        _compose_fully(plan, job.num, job.overrides)
        raise AssertionError(f"job {job.num} failed the fast check but composes in full")


def compose_search(plan: Plan) -> None:
    """Check a search's space before any trial: every choice and both ends of every range
    compose (each trial is composed again before it runs). BadInput with Hydra's words."""
    from dataclasses import replace

    from sweeper_cli.planning.plan import PlannedJob

    probes = tuple(PlannedJob(n, o) for n, o in enumerate(plan.search.probes()))
    probing = replace(plan, jobs=probes)
    failing = failing_jobs(probing, first_only=True)
    if failing:
        overrides = probes[failing[0]].overrides
        why = trial_problem(plan, overrides) or "it does not compose"
        raise BadInput(f"the search space does not compose ({' '.join(overrides)}): {why}")


def trial_problem(plan: Plan, overrides: tuple[str, ...]) -> str | None:
    """Why one trial's config does not compose (Hydra's words), or None."""
    try:
        plan.loader.load_sweep_config(plan.config, list(overrides))
    except _failures() as exc:
        return one_line(exc)
    return None


class TrialChecker:
    """A search's trials checked one by one as they come, with the fast checker's caches
    kept from trial to trial (each group combination is composed once)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.checker = _Checker(plan)

    def problem(self, overrides: tuple[str, ...]) -> str | None:
        """Why the trial does not compose (Hydra's words, from a full composition), or None."""
        try:
            ok = self.checker.job(overrides, _independent(self.checker, overrides))
        except _failures():
            ok = False
        return None if ok else trial_problem(self.plan, overrides) or "it does not compose"


class _Checker:
    """Verdicts on a plan's jobs with as few compositions as give the same answers.

    A composition is the defaults list (set by the config-group overrides) merged, then the
    value overrides applied in order (Hydra's `_load_configuration_impl`). So the merged
    part is composed once per combination of group overrides. When a sweep's value
    overrides touch distinct keys (none inside another), each job's verdict is the
    conjunction of its overrides' verdicts, and each distinct override is checked once:
    a plain assignment on a shared working copy (an assignment replaces, whatever was
    there), an addition of a key the config does not have once per key (its value cannot
    change the verdict), anything else on a fresh copy. Otherwise each job's overrides
    are applied in order, as Hydra does. Every override string is parsed once.
    """

    def __init__(self, plan: Plan) -> None:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.plan = plan
        self.parser = OverridesParser.create()
        self.parsed: dict[str, Any] = {}
        self.is_group: dict[str, bool] = {}
        self.bases: dict[tuple[str, ...], Any] = {}
        self.working: dict[tuple[str, ...], Any] = {}
        self.verdicts: dict[tuple[tuple[str, ...], str], bool] = {}

    def parse(self, text: str) -> Any:
        if text not in self.parsed:
            self.parsed[text] = self.parser.parse_overrides([text])[0]
        return self.parsed[text]

    def group(self, override: Any) -> bool:
        key = override.key_or_group
        if key not in self.is_group:
            self.is_group[key] = self.plan.loader.repository.group_exists(key)
        return self.is_group[key] and not isinstance(override.value(), dict)

    def base(self, groups: tuple[str, ...]) -> Any:
        """The merged defaults of this group combination (None: they do not compose)."""
        if groups not in self.bases:
            try:
                loaded = self.plan.loader.load_sweep_config(self.plan.config, list(groups))
            except _failures():
                loaded = None
            self.bases[groups] = loaded
        return self.bases[groups]

    @staticmethod
    def _apply(overrides: list[Any], cfg: Any) -> bool:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        try:
            ConfigLoaderImpl._apply_overrides_to_config(overrides, cfg)
        except _failures():
            return False
        return True

    def one(self, groups: tuple[str, ...], override: Any) -> bool:
        """The verdict of one value override on the base of `groups`."""
        import copy

        from hydra.core.override_parser.types import OverrideType
        from omegaconf import OmegaConf

        base = self.base(groups)
        value = override.value()
        plain = not isinstance(value, dict) and type(value).__name__ != "ListExtensionOverrideValue"
        absent = OmegaConf.select(base, override.key_or_group, throw_on_missing=False) is None
        if override.type == OverrideType.CHANGE and plain:
            memo = (groups, str(override.input_line))
            if groups not in self.working:
                self.working[groups] = copy.deepcopy(base)
            target = self.working[groups]
        elif override.type in (OverrideType.ADD, OverrideType.FORCE_ADD) and absent:
            memo = (groups, f"+{override.key_or_group}")  # a new key: any value, one verdict
            target = None
        else:
            memo = (groups, str(override.input_line))
            target = None
        if memo not in self.verdicts:
            self.verdicts[memo] = self._apply([override], target or copy.deepcopy(base))
        return self.verdicts[memo]

    def job(self, overrides: tuple[str, ...], independent: bool) -> bool:
        import copy

        parsed = [self.parse(t) for t in overrides]
        groups = tuple(str(o.input_line) for o in parsed if self.group(o))
        values = [o for o in parsed if not self.group(o)]
        if self.base(groups) is None:
            return False
        if independent:
            return all(self.one(groups, o) for o in values)
        return self._apply(values, copy.deepcopy(self.base(groups)))


def _independent(checker: _Checker, overrides: tuple[str, ...]) -> bool:
    """Whether a job's value overrides touch distinct keys, none inside another."""
    keys = sorted(
        str(o.key_or_group) for o in (checker.parse(t) for t in overrides) if not checker.group(o)
    )
    return all(not b.startswith(a + ".") and a != b for a, b in itertools.pairwise(keys))


def failing_jobs(plan: Plan, first_only: bool = False, fast: bool = True) -> list[int]:
    """The numbers of the jobs whose config does not compose (`fast=False`: each job
    composed in full by Hydra's own loader, the reference the fast path must equal)."""
    if not plan.jobs:
        return []
    failing: list[int] = []
    if not fast:
        for job in plan.jobs:
            try:
                plan.loader.load_sweep_config(plan.config, list(job.overrides))
            except _failures():
                failing.append(job.num)
                if first_only:
                    break
        return failing
    checker = _Checker(plan)
    try:
        independent = _independent(checker, plan.jobs[0].overrides)
    except _failures():
        independent = False
    for job in plan.jobs:
        try:
            ok = checker.job(job.overrides, independent)
        except _failures():
            ok = False
        if not ok:
            failing.append(job.num)
            if first_only:
                break
    return failing


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


def check_python(settings: Settings) -> None:
    """The interpreter that runs the app must exist (checked before anything is written)."""
    python = settings["python"]
    if python is not None and shutil.which(python) is None:
        raise BadInput(
            f"python {python!r} not found or not executable (from {settings.sources['python']})"
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
