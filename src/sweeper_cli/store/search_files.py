"""A search's own files in its sweep folder, read without Optuna (`status` imports this).

search/state.json      the controller's account: its state, the trials it told, the
                       best so far; written only by the controller (which holds the
                       sweep's launch lock)
search/stop.json       a request to stop the search (`cancel`); `resume` withdraws it
search/study.db        Optuna's study (SQLite: `optuna-dashboard sqlite:///...`),
                       written only by the controller
search/sampler.pkl     the sampler after the latest asks, so a resumed search goes on
                       exactly as an uninterrupted one would
search/controller.log  the controller's output
optimization_results.yaml  the best parameters and value, as Hydra writes it (at the end)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper_cli.store import layout, records
from sweeper_cli.store.jobfiles import read_json

SEARCH_DIR = "search"
STATE_FILE = "state.json"
STOP_FILE = "stop.json"
STUDY_FILE = "study.db"
SAMPLER_FILE = "sampler.pkl"
CONTROLLER_LOG = "controller.log"
RESULTS_FILE = "optimization_results.yaml"
STATE_SCHEMA_VERSION = 1

# The controller's states. "running" is only true while its process lives.
RUNNING, FINISHED, STOPPED, CANCELLED = "running", "finished", "stopped", "cancelled"


def folder(sweep_dir: Path) -> Path:
    return sweep_dir / SEARCH_DIR


def study_url(sweep_dir: Path) -> str:
    return f"sqlite:///{folder(sweep_dir) / STUDY_FILE}"


@dataclass(frozen=True)
class Trial:
    """One trial as the controller told it: its job, Optuna's number, state and values."""

    job: int
    number: int
    state: str  # running, complete, failed
    values: tuple[float, ...] | None = None
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "trial": self.number,
            "state": self.state,
            "values": None if self.values is None else list(self.values),
            "note": self.note,
        }


@dataclass(frozen=True)
class SearchState:
    """`search/state.json`, typed."""

    state: str
    reason: str | None
    controller: records.Process | None
    n_trials: int | None
    trials: dict[int, Trial]  # by job number
    best: tuple[int, ...]  # the best trials' jobs (several on a Pareto front)
    updated: datetime | None
    options: dict[str, Any]


def _trial(data: Any) -> Trial:
    what = "search state trial"
    if not isinstance(data, dict):
        raise records.RecordProblem(f"{what} is not an object")
    job, number = data.get("job"), data.get("trial")
    state, values, note = data.get("state"), data.get("values"), data.get("note")
    if not isinstance(job, int) or not isinstance(number, int) or not isinstance(state, str):
        raise records.RecordProblem(f"{what} lacks job, trial or state")
    if values is not None and not (
        isinstance(values, list) and all(isinstance(v, (int, float)) for v in values)
    ):
        raise records.RecordProblem(f"{what} {job} has bad values")
    return Trial(
        job,
        number,
        state,
        None if values is None else tuple(float(v) for v in values),
        note if isinstance(note, str) else None,
    )


def parse_state(data: Any) -> SearchState:
    what = "search/state.json"
    if not isinstance(data, dict) or not isinstance(data.get("state"), str):
        raise records.RecordProblem(f"{what} has no state")
    trials = [_trial(entry) for entry in data.get("trials") or []]
    best = data.get("best") or []
    if not isinstance(best, list) or not all(isinstance(b, int) for b in best):
        raise records.RecordProblem(f"{what} has a bad 'best'")
    n_trials = data.get("n_trials")
    updated = data.get("updated")
    options = data.get("options")
    return SearchState(
        state=data["state"],
        reason=data.get("reason") if isinstance(data.get("reason"), str) else None,
        controller=records.Process.parse(data.get("controller"), f"{what} controller"),
        n_trials=n_trials if isinstance(n_trials, int) else None,
        trials={t.job: t for t in trials},
        best=tuple(best),
        updated=datetime.fromisoformat(updated) if isinstance(updated, str) else None,
        options=options if isinstance(options, dict) else {},
    )


def read_state(sweep_dir: Path) -> SearchState | None:
    """The controller's account; None when it has written none (yet); RecordProblem (a
    ValueError) or OSError when it cannot be read."""
    try:
        data = read_json(folder(sweep_dir) / STATE_FILE)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise records.RecordProblem(f"search/state.json is unreadable ({exc})") from None
    return parse_state(data)


def write_state(sweep_dir: Path, doc: dict[str, Any]) -> None:
    doc = {"schema_version": STATE_SCHEMA_VERSION, **doc}
    doc["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    layout.atomic_write_json(folder(sweep_dir) / STATE_FILE, doc)


def request_stop(sweep_dir: Path, reason: str, by: dict[str, Any]) -> None:
    layout.atomic_write_json(folder(sweep_dir) / STOP_FILE, {"reason": reason, **by})


def stop_request(sweep_dir: Path) -> str | None:
    """The reason of a pending request to stop the search, if any."""
    try:
        data = read_json(folder(sweep_dir) / STOP_FILE)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "stop requested"
    reason = data.get("reason") if isinstance(data, dict) else None
    return str(reason) if reason else "stop requested"


def withdraw_stop(sweep_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder(sweep_dir) / STOP_FILE)
