"""A run's `.sweep/` files as the launcher side writes and reads them: the status record
(only where no runner holds the job, see `layout`), cancel requests and claims."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli.store import records
from sweeper_cli.store.jobfiles import (
    CANCEL_FILE,
    STATUS_SCHEMA_VERSION,
    claim_path,
    read_json,
)
from sweeper_cli.store.layout import atomic_write_json, status_path, sweep_meta


def write_status(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_json(status_path(run_dir), {"schema_version": STATUS_SCHEMA_VERSION, **record})


def read_status(run_dir: Path) -> records.StatusRecord:
    """The run's typed status record; OSError when unreadable, RecordProblem (a ValueError)
    when corrupt or malformed."""
    try:
        data = read_json(status_path(run_dir))
    except ValueError as exc:
        raise records.RecordProblem(f"status.json is unreadable ({type(exc).__name__})") from None
    return records.parse_status(data)


def request_cancel(run_dir: Path, upto: int, reason: str, by: Mapping[str, Any]) -> None:
    """Ask that attempts up to `upto` of this job do not run (or stop)."""
    meta = sweep_meta(run_dir)
    with contextlib.suppress(OSError, ValueError):
        old = read_json(meta / CANCEL_FILE)
        if isinstance(old, dict) and isinstance(old.get("upto"), int):
            upto = max(upto, old["upto"])
    atomic_write_json(meta / CANCEL_FILE, {"upto": upto, "reason": reason, **by})


def withdraw_cancel(run_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sweep_meta(run_dir) / CANCEL_FILE)


def read_claim(run_dir: Path, attempt: int) -> dict[str, Any] | None:
    """The claim of `attempt` (its content, `{}` when unreadable), None when there is none."""
    path = claim_path(sweep_meta(run_dir), attempt)
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    if "time" not in data:  # an empty claim: date it by the file
        with contextlib.suppress(OSError):
            stamp = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            data["time"] = stamp.isoformat()
    return data
