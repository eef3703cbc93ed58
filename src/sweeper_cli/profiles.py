"""Named profiles (`[tool.thesis-sweep.profiles.<name>]`): backend, resources, site lines.

Values that reach a scheduler file are checked here (numbers are numbers, names are
names); `setup` and `extra` lines are the site's own shell and scheduler lines, written
verbatim by design, and `env` values are shell-quoted where they are used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeper_cli.errors import BadInput

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_MEMORY = re.compile(r"\d+[KMGT]?", re.IGNORECASE)  # what both sbatch and HTCondor accept
_TIME = re.compile(r"(\d+-)?\d+(:\d{1,2}){0,2}")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BACKENDS = ("local", "slurm", "htcondor")


@dataclass(frozen=True)
class Profile:
    """Where and how a sweep's jobs run."""

    name: str = "default"
    backend: str = "local"
    cpus: int | None = None
    memory: str | None = None
    gpus: int | None = None
    time: str | None = None
    partition: str | None = None
    account: str | None = None
    max_parallel: int | None = None
    python: str | None = None
    setup: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, backend: str) -> Profile:
        """The profile recorded in a runs index (a default one for old indexes)."""
        if not data:
            return cls(backend=backend)
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields.update(setup=tuple(fields.get("setup", ())), extra=tuple(fields.get("extra", ())))
        return cls(**fields)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "setup": list(self.setup),
            "extra": list(self.extra),
            "env": dict(self.env),
        }


def _positive(name: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInput(f"profile {name!r}: {key} must be a positive whole number, not {value!r}")
    return value


def _matching(name: str, key: str, value: Any, pattern: re.Pattern[str], hint: str) -> str:
    text = str(value).strip()
    if not pattern.fullmatch(text):
        raise BadInput(f"profile {name!r}: invalid {key} {value!r} ({hint})")
    return text


def _lines(name: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"profile {name!r}: {key} must be a list of strings")
    if any("\n" in v or "\r" in v for v in value):
        raise BadInput(f"profile {name!r}: each {key} entry must be one line")
    if any(v.rstrip().endswith("\\") for v in value):
        # A trailing backslash would continue into the next generated line.
        raise BadInput(f"profile {name!r}: a {key} entry must not end with a backslash")
    return tuple(value)


def make_profile(name: str, table: Mapping[str, Any]) -> Profile:
    """Validate one profile table."""
    known = set(Profile.__dataclass_fields__) - {"name"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise BadInput(
            f"profile {name!r}: unknown key(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(known))}"
        )
    if not _NAME.fullmatch(name):
        raise BadInput(f"invalid profile name {name!r}: use letters, digits and ._@+-")
    values: dict[str, Any] = {"name": name}
    backend = table.get("backend", "local")
    if backend not in BACKENDS:
        raise BadInput(f"profile {name!r}: backend must be one of {', '.join(BACKENDS)}")
    values["backend"] = backend
    for key in ("cpus", "gpus", "max_parallel"):
        if key in table:
            values[key] = _positive(name, key, table[key])
    if "memory" in table:
        values["memory"] = _matching(name, "memory", table["memory"], _MEMORY, "e.g. 4G or 4096M")
    if "time" in table:
        values["time"] = _matching(
            name, "time", table["time"], _TIME, "e.g. 02:00:00 or 1-12:00:00"
        )
    for key in ("partition", "account"):
        if key in table:
            values[key] = _matching(name, key, table[key], _NAME, "letters, digits and ._@+-")
    if "python" in table:
        values["python"] = str(table["python"])
    for key in ("setup", "extra"):
        if key in table:
            values[key] = _lines(name, key, table[key])
    if "env" in table:
        env = table["env"]
        if not isinstance(env, Mapping) or not all(_ENV_KEY.fullmatch(str(k)) for k in env):
            raise BadInput(f"profile {name!r}: env must map variable names to values")
        values["env"] = {str(k): str(v) for k, v in env.items()}
    return _fits_backend(Profile(**values))


def choose(profiles: Mapping[str, Any], wanted: str | None, backend_flag: str | None) -> Profile:
    """The profile to use (by name, or none) with `--backend` overriding its backend."""
    if wanted is None:
        profile = Profile()
    elif wanted not in profiles:
        known = ", ".join(sorted(profiles)) or "none defined"
        raise BadInput(f"unknown profile {wanted!r} (profiles: {known})")
    else:
        profile = make_profile(wanted, profiles[wanted])
    if backend_flag is not None:
        if backend_flag not in BACKENDS:
            raise BadInput(f"unknown backend {backend_flag!r}; choose from: {', '.join(BACKENDS)}")
        profile = Profile(**{**profile.__dict__, "backend": backend_flag})
    return _fits_backend(profile)


def _fits_backend(profile: Profile) -> Profile:
    if profile.backend == "htcondor" and profile.partition:
        raise BadInput(
            f"profile {profile.name!r}: HTCondor has no partitions; express the site's rule "
            "as an extra line (e.g. requirements or +JobCategory)"
        )
    return profile
