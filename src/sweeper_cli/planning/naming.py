"""Sweep and run folder names (pure)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import datetime

from sweeper_cli.errors import BadInput

TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_FIELDS = {"ts", "name", "num"}


def check_name(name: str) -> str:
    """Return `name` if it is safe as part of a folder name, else raise BadInput."""
    if not _NAME.fullmatch(name) or ".." in name or len(name) > 100:
        raise BadInput(
            f"invalid sweep name {name!r}: use letters, digits and . _ + - "
            "(no path separators, no '..', at most 100 characters)"
        )
    return name


def check_pattern(pattern: str, setting: str, needs_num: bool) -> str:
    """Validate a folder-name pattern such as `run_{ts}_{name}_job{num}`."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise BadInput(f"invalid {setting} {pattern!r}: {exc}") from None
    allowed = _FIELDS if needs_num else _FIELDS - {"num"}
    if fields - allowed or not {"ts", "name"} <= fields or (needs_num and "num" not in fields):
        need = "{ts}, {name} and {num}" if needs_num else "{ts} and {name}"
        raise BadInput(f"invalid {setting} {pattern!r}: it must use {need} and nothing else")
    if any(sep in pattern for sep in "/\\") or ".." in pattern:
        raise BadInput(f"invalid {setting} {pattern!r}: no path separators or '..'")
    return pattern


def timestamp(now: datetime) -> str:
    return now.strftime(TIMESTAMP_FORMAT)


@dataclass(frozen=True)
class Naming:
    """Turns (stamp, name, job number) into folder names; `stamp` may carry a clash suffix."""

    name: str
    stamp: str
    run_pattern: str
    sweep_pattern: str

    @property
    def sweep_folder(self) -> str:
        return self.sweep_pattern.format(ts=self.stamp, name=self.name)

    def run_folder(self, num: int) -> str:
        return self.run_pattern.format(ts=self.stamp, name=self.name, num=num)

    def with_suffix(self, n: int) -> Naming:
        """The naming for the n-th clash (n >= 2) of the same timestamp and name."""
        base = self.stamp.split(".")[0]
        return Naming(self.name, f"{base}.{n}", self.run_pattern, self.sweep_pattern)
