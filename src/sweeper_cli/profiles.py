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
_DEVICES = re.compile(r"all|(\d+|GPU-[0-9a-fA-F-]+)(,(\d+|GPU-[0-9a-fA-F-]+))*")
BACKENDS = ("local", "slurm", "htcondor")


@dataclass(frozen=True)
class Profile:
    """Where and how a sweep's jobs run."""

    name: str = "default"
    backend: str = "local"
    cpus: int | None = None
    memory: str | None = None
    gpus: int | None = None  # clusters: GPUs per job
    devices: str | None = None  # local: the GPUs to use, "0,1" or "all" (`gpus` in the table)
    gpus_per_job: int | None = None  # local
    jobs_per_gpu: int | None = None  # local
    time: str | None = None
    partition: str | None = None
    account: str | None = None
    max_parallel: int | None = None
    checkpoint_exit_code: int | None = None  # HTCondor: exit code that means "run me again"
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


def time_seconds(limit: str) -> int:
    """A Slurm-style time limit in seconds: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`."""
    days, dash, clock = limit.partition("-")
    if not dash:
        days, clock = "0", limit
    parts = [int(p) for p in clock.split(":")]
    if dash:  # after a day count the clock starts with hours
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 1:
        hours, minutes, seconds = 0, parts[0], 0
    elif len(parts) == 2:
        hours, minutes, seconds = 0, parts[0], parts[1]
    else:
        hours, minutes, seconds = parts
    return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds


def format_time(seconds: int) -> str:
    """Seconds as a Slurm-style limit (`H:MM:SS`, or `D-HH:MM:SS` from a day on)."""
    minutes, secs = divmod(max(1, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


_UNITS_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])", re.IGNORECASE)
_FACTOR = re.compile(r"[x*](\d+(?:\.\d+)?)", re.IGNORECASE)


def memory_mb(text: str) -> int:
    """`4G`, `4096M`, `4096` (megabytes, as sbatch and HTCondor read it), `512K`, `1T`."""
    number, unit = (text[:-1], text[-1].upper()) if text[-1:].isalpha() else (text, "M")
    return max(1, int(float(number) * _UNITS_MB[unit] + 0.999))


def format_memory(mb: int) -> str:
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


def _factor(spec: str) -> float | None:
    match = _FACTOR.fullmatch(spec.strip())
    return float(match.group(1)) if match else None


def more_memory(spec: str, current: str | None) -> str:
    """`--memory` of resume: an amount (`8G`), or a factor of the current one (`x2`)."""
    factor = _factor(spec)
    if factor is None:
        if not _MEMORY.fullmatch(spec.strip()):
            raise BadInput(f"invalid --memory {spec!r}: give an amount (8G, 4096M) or x2")
        return spec.strip()
    if current is None:
        raise BadInput(
            f"--memory {spec}: these jobs asked for no memory of their own; give an "
            "amount such as --memory 8G"
        )
    return format_memory(int(memory_mb(current) * factor + 0.5))


def more_time(spec: str, current: str | None) -> str:
    """`--time` of resume: `2h`, `90m`, `1d12h`, a Slurm limit (`1-12:00:00`), or `x2`."""
    text = spec.strip()
    factor = _factor(text)
    if factor is not None:
        if current is None:
            raise BadInput(f"--time {spec}: these jobs had no time limit; give one (--time 2h)")
        return format_time(int(time_seconds(current) * factor + 0.5))
    if _TIME.fullmatch(text):
        return text
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        raise BadInput(f"invalid --time {spec!r}: give 2h, 90m, 1-12:00:00 or x2")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return format_time(int(sum(float(n) * scale[u.lower()] for n, u in parts)))


def with_resources(
    profile: Profile,
    memory: str | None = None,
    time: str | None = None,
    cpus: int | None = None,
    gpus: int | None = None,
) -> Profile:
    """The profile with more (or other) resources, as `resume` asks for them."""
    changes: dict[str, Any] = {}
    if memory is not None:
        changes["memory"] = more_memory(memory, profile.memory)
    if time is not None:
        changes["time"] = more_time(time, profile.time)
    if cpus is not None:
        changes["cpus"] = cpus
    if gpus is not None:
        changes["gpus"] = gpus
    return Profile(**{**profile.__dict__, **changes})


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
    known = set(Profile.__dataclass_fields__) - {"name", "devices"}
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
    table = dict(table)
    if backend == "local" and isinstance(table.get("gpus"), str):
        values["devices"] = _matching(
            name, "gpus", table.pop("gpus"), _DEVICES, 'e.g. "0,1" or "all"'
        )
    for key in (
        "cpus",
        "gpus",
        "max_parallel",
        "checkpoint_exit_code",
        "gpus_per_job",
        "jobs_per_gpu",
    ):
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
    if profile.checkpoint_exit_code and profile.backend != "htcondor":
        raise BadInput(
            f"profile {profile.name!r}: checkpoint_exit_code is HTCondor's; Slurm jobs "
            "are requeued with scontrol requeue instead"
        )
    if profile.backend == "htcondor" and profile.partition:
        raise BadInput(
            f"profile {profile.name!r}: HTCondor has no partitions; express the site's rule "
            "as an extra line (e.g. requirements or +JobCategory)"
        )
    return profile
