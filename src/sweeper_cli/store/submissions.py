"""submit/submission-<k>.json: the k-th cluster submission, created exclusively by the
launcher and never rewritten (a version-1 sweep kept them in its index)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from sweeper_cli.store import records
from sweeper_cli.store.jobfiles import create_exclusive, read_json
from sweeper_cli.store.layout import SUBMIT_DIR, json_bytes
from sweeper_cli.store.runs_index import Index

_SUBMISSION = re.compile(r"submission-(\d+)\.json")


def submission_path(sweep_dir: Path, number: int) -> Path:
    return sweep_dir / SUBMIT_DIR / f"submission-{number}.json"


def read_submissions(sweep_dir: Path, index: Index | None = None) -> list[records.Submission]:
    """Every submission of the sweep, oldest first (schema-1 ones from the index)."""
    found: list[records.Submission] = []
    with contextlib.suppress(OSError):
        for name in os.listdir(sweep_dir / SUBMIT_DIR):
            match = _SUBMISSION.fullmatch(name)
            if not match:
                continue
            number = int(match.group(1))
            with contextlib.suppress(OSError, ValueError):
                data = read_json(sweep_dir / SUBMIT_DIR / name)
                found.append(records.parse_submission(data, number))
    if not found and index is not None:
        found = _v1_submissions(index)
    return sorted(found, key=lambda s: s.number)


def _v1_submissions(index: Index) -> list[records.Submission]:
    old = index.header.raw.get("submissions")
    if not isinstance(old, list):
        return []
    ids = {}
    for entry in index.doc["jobs"]:
        if isinstance(entry, dict) and isinstance(entry.get("scheduler_id"), str):
            ids[entry.get("num")] = entry["scheduler_id"]
    found = []
    for number, sub in enumerate(old, start=1):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            jobs = [int(n) for n in sub.get("jobs", [])]
            base = records.parse_submission({**sub, "job_ids": {}}, number)
            mine = {n: ids[n] for n in jobs if n in ids and ids[n].startswith(base.scheduler_id)}
            found.append(records.Submission(number, base.scheduler_id, base.submitted, mine))
    return found


def record_submission(sweep_dir: Path, data: dict[str, Any]) -> int:
    """Create the next `submit/submission-<k>.json` exclusively; returns k."""
    numbers = [s.number for s in read_submissions(sweep_dir)]
    number = max(numbers, default=0) + 1
    while not create_exclusive(submission_path(sweep_dir, number), json_bytes(data)):
        number += 1
    return number
