"""Named profiles (`[tool.thesis-sweep.profiles.<name>]`): backend, resources, site lines.

Values that reach a scheduler file are checked here (numbers are numbers, names are
names); `setup` and `extra` lines are the site's own shell and scheduler lines, written
verbatim by design, and `env` values are shell-quoted where they are used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.project.resources import TIME, more_memory, more_time, parse_memory
from sweeper_cli.project.submit_lines import check_extra
from sweeper_cli.project.success import parse_success

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
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
    setup: tuple[str, ...] = ()  # shell blocks run before the job runner
    teardown: tuple[str, ...] = ()  # shell blocks run after it, whatever its exit
    env: Mapping[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    logs: str | None = None  # folder of the scheduler's own .out/.err files
    site: str | None = None  # a site table (sites/<name>.toml) whose rules are checked
    success: tuple[str, ...] = ()  # files a run dir must hold to count as succeeded

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, backend: str) -> Profile:
        """The profile recorded in a runs index (a default one for old indexes)."""
        if not data:
            return cls(backend=backend)
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("setup", "teardown", "extra", "success"):
            fields[key] = tuple(fields.get(key, ()))
        return cls(**fields)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "setup": list(self.setup),
            "teardown": list(self.teardown),
            "extra": list(self.extra),
            "success": list(self.success),
            "env": dict(self.env),
        }


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


def _lines(name: str, key: str, value: Any, blocks: bool = False) -> tuple[str, ...]:
    """A list of strings; `blocks`: each entry may be a multi-line shell block."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"profile {name!r}: {key} must be a list of strings")
    if not blocks and any("\n" in v or "\r" in v for v in value):
        raise BadInput(f"profile {name!r}: each {key} entry must be one line")
    if any("\r" in v or "\0" in v for v in value):
        raise BadInput(f"profile {name!r}: a {key} entry holds a carriage return or NUL")
    if any(v.rstrip().endswith("\\") for v in value):
        # A trailing backslash would continue into the next generated line.
        raise BadInput(f"profile {name!r}: a {key} entry must not end with a backslash")
    return tuple(v.strip("\n") for v in value)


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
        values["memory"] = parse_memory(str(table["memory"]), f"profile {name!r}")
    if "time" in table:
        values["time"] = _matching(name, "time", table["time"], TIME, "e.g. 02:00:00 or 1-12:00:00")
    for key in ("partition", "account"):
        if key in table:
            values[key] = _matching(name, key, table[key], _NAME, "letters, digits and ._@+-")
    for key in ("python", "logs", "site"):
        if key in table:
            if not isinstance(table[key], str) or not table[key].strip():
                raise BadInput(f"profile {name!r}: {key} must be a non-empty string")
            values[key] = table[key].strip()
    if "logs" in values:
        logs = os.path.expanduser(values["logs"])
        if not os.path.isabs(logs):
            raise BadInput(f"profile {name!r}: logs must be an absolute folder, not {logs!r}")
        values["logs"] = logs
    for key in ("setup", "teardown", "extra"):
        if key in table:
            values[key] = _lines(name, key, table[key], blocks=key != "extra")
    if "success" in table:
        values["success"] = parse_success(table["success"], f"profile {name!r}")
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
    check_extra(profile.name, profile.backend, profile.extra)
    if profile.backend == "htcondor":  # env goes into the submit file's `environment` too
        for key, value in profile.env.items():
            if any(ch in value for ch in "\n\r\0$"):
                raise BadInput(
                    f"profile {profile.name!r}: env {key} holds a line break or `$`, which "
                    "HTCondor's submit file cannot hold literally ($ starts a macro); "
                    f"export it in a setup line instead (export {key}='...')"
                )
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
