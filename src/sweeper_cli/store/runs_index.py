"""runs_index.json: the sweep header, its jobs and a cache of their last seen states.

Written at creation; afterwards a search's controller adds each new trial's job (`add_jobs`)
and whoever observed the sweep refreshes the cache (`refresh_cache`, best effort), both
under `index_lock`. Facts never live in the cache, so a stale or lost refresh loses nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.store import records
from sweeper_cli.store.jobfiles import read_json
from sweeper_cli.store.layout import INDEX_FILE, RUNPTRS, atomic_write_json

SCHEMA_VERSION = 2
CACHE_FIELDS = ("state", "exit_code", "signal", "start", "end", "host", "attempts", "reason")


@dataclass
class Index:
    """A parsed runs index: the header, its jobs, and the raw document (for the cache)."""

    header: records.SweepHeader
    jobs: list[records.JobEntry]
    doc: dict[str, Any]


def migrate_index(data: Any) -> dict[str, Any]:
    """Bring an index of any known schema version to the current one (in memory).

    Version 1 kept the local launcher and the cluster submissions inside the index; they are
    read from there (`SweepHeader.launcher`, `submissions`) when no newer record exists.
    """
    if not isinstance(data, dict) or "sweep" not in data or "jobs" not in data:
        raise ValueError("not a thesis-sweep runs index")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"runs index schema_version {version!r} is newer than this tool")
    if not isinstance(data["jobs"], list):
        raise ValueError("its 'jobs' is not a list")
    return data


def read_index(sweep_dir: Path) -> Index:
    """The sweep's index; BadInput (one line naming the file) when it cannot be used."""
    path = sweep_dir / INDEX_FILE
    try:
        doc = migrate_index(read_json(path))
        header = records.parse_header(doc["sweep"], sweep_dir)
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read {path}: {exc}") from None
    jobs = [records.parse_job_entry(entry, i) for i, entry in enumerate(doc["jobs"])]
    return Index(header, jobs, doc)


def write_index(sweep_dir: Path, doc: dict[str, Any]) -> None:
    doc["schema_version"] = SCHEMA_VERSION
    atomic_write_json(sweep_dir / INDEX_FILE, doc)


@contextlib.contextmanager
def index_lock(sweep_dir: Path, wait: bool) -> Iterator[bool]:
    """Serialise rewrites of runs_index.json: a search's controller adds jobs while other
    shells refresh the cache, and neither may write back a copy without the other's
    change. An exclusive `flock` on the sweep's runptrs/ folder (the sweep folder's own
    lock is the launch lock); yields whether it is held (False: busy and not `wait`, or
    no flock here, where the race is left open)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    try:
        fd = os.open(sweep_dir / RUNPTRS, os.O_RDONLY)
    except OSError:  # no runptrs/ (an adopted sweep): nobody adds jobs to it
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def refresh_cache(sweep_dir: Path, states: Mapping[int, Mapping[str, Any]]) -> bool:
    """Write the jobs' last seen states into the index's cache fields, if they changed.

    Best effort by design: a read-only or full file system, an index being rewritten by
    someone else, or a sweep whose index changed shape meanwhile, leaves the cache as it
    was. Returns whether it wrote.
    """
    with index_lock(sweep_dir, wait=False) as held:
        if not held:
            return False
        try:
            doc = migrate_index(read_json(sweep_dir / INDEX_FILE))
        except (OSError, ValueError):
            return False
        changed = False
        for entry in doc["jobs"]:
            num = entry.get("num") if isinstance(entry, dict) else None
            seen = states.get(num) if isinstance(num, int) else None
            if seen is None:
                continue
            for key in CACHE_FIELDS:
                if entry.get(key) != seen.get(key):
                    entry[key] = seen.get(key)
                    changed = True
        if not changed:
            return False
        try:
            write_index(sweep_dir, doc)
        except OSError:
            return False
        return True


def add_jobs(sweep_dir: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append jobs to the index (a search's new trials); OSError when it cannot."""
    with index_lock(sweep_dir, wait=True):
        doc = migrate_index(read_json(sweep_dir / INDEX_FILE))
        doc["jobs"].extend(dict(entry) for entry in entries)
        write_index(sweep_dir, doc)
