"""A campaign's record: `<output root>/campaigns/<name>/campaign.json`, beside `runs/` and
`multiruns/`.

It says which sweep each line of the campaign's queue file made (a line is known by its
digest, so lines may move, and comments come and go) and what was submitted for it:

    {"schema_version": 1, "name": "queue", "file": "/abs/queue.txt",
     "shared_overrides": ["trainer.epochs=50"],      # added to every line by the newest run
     "lines": [{"digest": "...", "line": 3, "text": "...", "sweep_dir": "/abs/...",
                "added": "<time>"}, ...],
     "submissions": [{"backend": "htcondor", "scheduler_id": "123", "submitted": "<time>",
                      "cap": 2, "pack": 1, "jobs": 6, "lines": [1, 3]}, ...]}

Written by `campaign run` only, under the campaign folder's lock, always whole (a temp
file, then rename); a line is recorded as soon as its sweep exists, so a killed run never
leaves a sweep the next run would not find. The folder also holds `submit/`: the files of
the campaign's cluster submissions. Stdlib-only.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.store import locks
from sweeper_cli.store.jobfiles import now_iso, read_json
from sweeper_cli.store.layout import atomic_write_json

CAMPAIGNS_DIR = "campaigns"
RECORD_FILE = "campaign.json"
SCHEMA_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def campaign_name(queue_file: Path) -> str:
    """The campaign of a queue file is named after it: `thesis_queue.txt` -> thesis_queue."""
    name = _UNSAFE.sub("_", queue_file.stem).strip("._") or "campaign"
    return name


def campaign_dir(output_root: Path, name: str) -> Path:
    return output_root / CAMPAIGNS_DIR / name


@dataclass
class Record:
    """The campaign record, read or new; `lines` by digest."""

    folder: Path
    name: str
    file: str
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    shared: tuple[str, ...] = ()  # the overrides the newest run added to every line

    def sweep_of(self, digest: str) -> Path | None:
        entry = self.lines.get(digest)
        return Path(entry["sweep_dir"]) if entry else None

    def add_line(self, digest: str, number: int, text: str, sweep_dir: Path) -> None:
        self.lines[digest] = {
            "digest": digest,
            "line": number,
            "text": text,
            "sweep_dir": str(sweep_dir),
            "added": now_iso(),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "file": self.file,
            "shared_overrides": list(self.shared),
            "lines": list(self.lines.values()),
            "submissions": self.submissions,
        }


def read_record(folder: Path, name: str, file: Path) -> Record:
    """The record in `folder`, or a new empty one; BadInput when it is damaged."""
    path = folder / RECORD_FILE
    try:
        data = read_json(path)
    except FileNotFoundError:
        return Record(folder, name, str(file))
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read the campaign record {path}: {exc}") from None
    return _parse(data, folder, name, file, path)


def _parse(data: Any, folder: Path, name: str, file: Path, path: Path) -> Record:
    if not isinstance(data, Mapping) or not isinstance(data.get("lines"), list):
        raise BadInput(f"the campaign record {path} is damaged (no 'lines')")
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise BadInput(f"{path} was written by a newer thesis-sweep (schema {version})")
    record = Record(folder, name, str(data.get("file") or file))
    for entry in data["lines"]:
        if not (
            isinstance(entry, Mapping)
            and isinstance(entry.get("digest"), str)
            and isinstance(entry.get("sweep_dir"), str)
        ):
            raise BadInput(f"the campaign record {path} has a damaged line: {entry!r}")
        record.lines[entry["digest"]] = dict(entry)
    shared = data.get("shared_overrides") or []
    if isinstance(shared, list) and all(isinstance(o, str) for o in shared):
        record.shared = tuple(shared)
    subs = data.get("submissions") or []
    record.submissions = [dict(s) for s in subs if isinstance(s, Mapping)]
    return record


def write_record(record: Record) -> None:
    record.folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(record.folder / RECORD_FILE, record.as_json())


@contextlib.contextmanager
def campaign_lock(folder: Path) -> Iterator[None]:
    """One `campaign run` or `campaign cancel` of a campaign at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    busy = f"another thesis-sweep process works on the campaign {folder.name}; wait for it"
    with locks.folder_lock(folder, busy):
        yield
