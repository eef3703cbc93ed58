"""The `success` setting: files a run dir must hold for its job to count as succeeded.

Each entry is a glob relative to the run dir (`facts/scalars.csv`, `best_val.pt`,
`checkpoints/*.ckpt`); a job whose app exited 0 is `succeeded` only when every entry
matches at least one path. The sweep records its list when it is created, and the state
wing applies it whenever it reads a job, so `status`, `list`, `resume`, `compare` and
campaigns agree. Stdlib-only: `status` never imports Hydra.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from sweeper_cli.errors import BadInput


def parse_success(value: Any, origin: str) -> tuple[str, ...]:
    """Globs from a setting: a list of strings, or one comma-separated string (a flag or an
    environment variable). Each must be relative to the run dir and stay inside it."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
        items = [part for part in items if part]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise BadInput(f"invalid success {value!r} (from {origin}): give a list of file globs")
    for item in items:
        path = PurePosixPath(item)
        if not item or path.is_absolute() or ".." in path.parts or "\0" in item:
            raise BadInput(
                f"invalid success entry {item!r} (from {origin}): a file or glob inside the "
                "run dir, such as facts/scalars.csv or checkpoints/*.ckpt"
            )
    return tuple(dict.fromkeys(items))


def missing(run_dir: Path, patterns: Iterable[str]) -> list[str]:
    """The entries of `patterns` that match nothing in `run_dir`."""
    base = glob.escape(str(run_dir))
    return [p for p in patterns if not glob.glob(f"{base}/{p}", recursive=True)]


def of(template: Any) -> tuple[str, ...]:
    """The success files a sweep's job template (or a job's job.json) names."""
    found = template.get("success") if isinstance(template, dict) else None
    if isinstance(found, list) and all(isinstance(p, str) for p in found):
        return tuple(found)
    return ()


def recorded(spec_file: Path) -> tuple[str, ...]:
    """The success files a job's job.json names (none when it cannot be read)."""
    try:
        return of(json.loads(spec_file.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return ()


def describe(absent: Iterable[str]) -> str:
    """The reason of a job that exited 0 without its success files."""
    names = ", ".join(absent)
    return f"exited 0 without its success file(s): {names} (the success setting)"
