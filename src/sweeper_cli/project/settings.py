"""Resolve settings: flags > THESIS_SWEEP_* env vars > [tool.thesis-sweep] > defaults.

The project root is the folder of the nearest pyproject.toml (at or above the current
directory) that holds a [tool.thesis-sweep] table (else of the nearest pyproject.toml, else
the current directory): its relative
paths resolve against it, jobs start in it, and sweeps go to its outputs/ by default, from
whatever subdirectory thesis-sweep runs. Flags and environment variables are relative to
the current directory, like any command-line path. Each resolved value remembers where it
came from, so errors and `--dry-run` can say so. Stdlib-only: `status` and `--help`
resolve settings without importing Hydra.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.project.success import parse_success

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENV_PREFIX = "THESIS_SWEEP_"
DEFAULT_RUN_DIR_PATTERN = "run_{ts}_{name}_job{num}"
DEFAULT_SWEEP_DIR_PATTERN = "exp_{ts}_{name}"

# key -> (default, kind); kind drives parsing of env vars and pyproject values.
KEYS: dict[str, tuple[Any, str]] = {
    "module": (None, "str"),
    "script": (None, "path"),
    "command": (None, "argv"),
    "config_dir": (None, "path"),
    "config_name": (None, "str"),
    "version_base": (None, "version"),
    "name": ("experiment", "str"),
    "output_root": (None, "path"),
    "python": (None, "program"),
    "python_path": ([], "paths"),
    "run_dir_pattern": (DEFAULT_RUN_DIR_PATTERN, "str"),
    "sweep_dir_pattern": (DEFAULT_SWEEP_DIR_PATTERN, "str"),
    "jobs": (1, "int"),
    "gpus": (None, "str"),
    "gpus_per_job": (1, "int"),
    "jobs_per_gpu": (1, "int"),
    "max_jobs": (100_000, "int"),
    "poll_seconds": (30.0, "seconds"),
    "warm": ("hydra", "warm"),
    "validate": (True, "bool"),
    "profile": (None, "str"),
    "success": ((), "success"),
}
TABLES = ("profiles",)
APP_KEYS = ("module", "script", "command")


@dataclass(frozen=True)
class Settings:
    """Resolved settings; `sources[key]` says where each value came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    project_root: Path
    pyproject: Path | None = None
    profiles: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def is_explicit(self, key: str) -> bool:
        return self.sources[key] != "default"

    @property
    def has_table(self) -> bool:
        """Whether a [tool.thesis-sweep] table configures this project."""
        return self.pyproject is not None

    def with_python(self, python: str | None, origin: str) -> Settings:
        """These settings with the interpreter a profile names (`origin`: e.g. `profile
        stoomboot`), which wins over THESIS_SWEEP_PYTHON and the top-level `python`."""
        if not python:
            return self
        value = _parse("python", python, "program", origin, self.project_root)
        return replace(
            self,
            values={**self.values, "python": value},
            sources={**self.sources, "python": origin},
        )

    @property
    def app_argv(self) -> list[str]:
        """The app's launch prefix: `--command` as given, `<python> <script>` or
        `<python> -m <module>`."""
        if self.values["command"]:
            return list(self.values["command"])
        python = self.values["python"] or sys.executable
        if self.values["script"]:
            return [python, str(self.values["script"])]
        return [python, "-m", self.values["module"]]


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start` that holds [tool.thesis-sweep]."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_table(candidate):
            return candidate
    return None


def nearest_project(start: Path) -> Path:
    """Without our table: the folder of the nearest pyproject.toml, else `start`."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def _has_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    if "thesis-sweep" not in text:  # cheap: most pyproject files are not ours
        return False
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True  # ours, but broken: _read_table says why
    return isinstance(data.get("tool", {}).get("thesis-sweep"), dict)


def _parse(key: str, raw: Any, kind: str, origin: str, base: Path) -> Any:
    if kind == "success":
        return parse_success(raw, origin)
    try:
        if kind == "int":
            value = int(raw)
            if value < 1:
                raise ValueError
            return value
        if kind == "program":  # a path (relative to where it was set) or a name on PATH
            text = str(raw).strip()
            if not text:
                raise ValueError
            if "/" in text or os.sep in text:
                return str((base / Path(text).expanduser()).absolute())
            return text
        if kind == "warm":
            text = str(raw).strip().lower()
            if text not in ("off", "hydra", "app"):
                raise ValueError
            return text
        if kind == "version":
            text = str(raw).strip()
            if text.lower() in ("none", "latest"):
                return "none"
            major, dot, minor = text.partition(".")
            if not (dot and major.isdigit() and minor.isdigit()):
                raise ValueError
            return text
        if kind == "seconds":
            number = float(raw)
            if not number > 0:
                raise ValueError
            return number
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind == "argv":
            argv = shlex.split(raw) if isinstance(raw, str) else [str(a) for a in raw]
            if not argv:
                raise ValueError
            return argv
        if kind == "path":
            if not str(raw).strip():
                raise ValueError
            return (base / Path(str(raw)).expanduser()).resolve()
        if kind == "paths":
            items = raw.split(os.pathsep) if isinstance(raw, str) else list(raw)
            return [(base / Path(str(p)).expanduser()).resolve() for p in items if str(p)]
        if not isinstance(raw, str) or not raw:
            raise ValueError
        return raw
    except (TypeError, ValueError):
        raise BadInput(f"invalid value {raw!r} for setting '{key}' (from {origin})") from None


def _read_table(pyproject: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read {pyproject}: {exc}") from None
    table = data.get("tool", {}).get("thesis-sweep", {})
    unknown = sorted(set(table) - set(KEYS) - set(TABLES))
    if unknown:
        raise BadInput(
            f"unknown key(s) {', '.join(unknown)} in [tool.thesis-sweep] of {pyproject}; "
            f"valid keys: {', '.join(sorted(KEYS))}, profiles"
        )
    return dict(table)


def resolve(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting; `flags` holds only the flags the user gave (None = not given)."""
    environ = os.environ if environ is None else environ
    cwd = (cwd or Path.cwd()).resolve()
    pyproject = find_pyproject(cwd)
    table = _read_table(pyproject) if pyproject else {}
    project_root = pyproject.parent if pyproject else nearest_project(cwd)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, (default, kind) in KEYS.items():
        env_name = ENV_PREFIX + key.upper()
        if flags.get(key) is not None:
            values[key] = _parse(key, flags[key], kind, f"--{key.replace('_', '-')}", cwd)
            sources[key] = "flag"
        elif environ.get(env_name):
            values[key] = _parse(key, environ[env_name], kind, env_name, cwd)
            sources[key] = f"env {env_name}"
        elif key in table:
            values[key] = _parse(key, table[key], kind, str(pyproject), project_root)
            sources[key] = f"{pyproject}"
        else:
            values[key] = (
                _parse(key, default, kind, "default", project_root)
                if (kind == "path" and default is not None)
                else default
            )
            sources[key] = "default"

    # --module, --script and --command exclude each other: the one given at the highest
    # level wins; two at the same level are an error.
    rank = {"flag": 0, "env": 1, "default": 3}

    def level(key: str) -> int:
        return rank.get(sources[key].split(" ")[0], 2)

    given = [k for k in APP_KEYS if values[k] is not None]
    if given:
        best = min(level(k) for k in given)
        tied = [k for k in given if level(k) == best]
        if len(tied) > 1:
            raise BadInput(f"give one of --{', --'.join(tied)}, not several")
        for key in given:
            if key != tied[0]:
                values[key] = None
                sources[key] = "default"
    return Settings(values, sources, project_root, pyproject, dict(table.get("profiles", {})))
