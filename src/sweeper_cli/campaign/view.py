"""Where each line of a campaign stands, from its sweep's files (and its scheduler).

A line is NOT STARTED without a sweep (none recorded, or its folder was removed),
COMPLETE when every job of its sweep succeeded (the success setting included), else
INCOMPLETE. The campaign's exit code is `status`'s: 4 while any job is queued or running
(or a line is not started yet: `campaign run` starts it), else 1 when a job failed, was
cancelled or lost, else 0. Never imports Hydra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli.campaign.queue import Line
from sweeper_cli.errors import SweepError
from sweeper_cli.state import status, views
from sweeper_cli.states import State
from sweeper_cli.store import campaigns, layout

COMPLETE, INCOMPLETE, NOT_STARTED = "COMPLETE", "INCOMPLETE", "NOT STARTED"
ENDED_BADLY = (State.FAILED, State.CANCELLED, State.LOST)


@dataclass
class LineView:
    """One line and its sweep as seen now (`sweep` None: not started or unreadable)."""

    line: Line
    sweep_dir: Path | None = None
    sweep: views.SweepView | None = None
    problem: str | None = None  # why its sweep could not be read

    def count(self, *states: State) -> int:
        jobs = self.sweep.jobs if self.sweep is not None else []
        return sum(1 for job in jobs if job.state in states)

    @property
    def total(self) -> int:
        return len(self.sweep.jobs) if self.sweep is not None else 0

    @property
    def state(self) -> str:
        if self.sweep is None:
            return INCOMPLETE if self.problem else NOT_STARTED
        if self.total and self.count(State.SUCCEEDED) == self.total:
            return COMPLETE
        return INCOMPLETE

    @property
    def active(self) -> bool:
        """Jobs queued or running, or a process launching them."""
        if self.sweep is None:
            return False
        return self.sweep.launching or self.count(State.QUEUED, State.RUNNING) > 0

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line.number,
            "text": self.line.text,
            "digest": self.line.digest,
            "sweep": None if self.sweep_dir is None else str(self.sweep_dir),
            "state": self.state,
            "jobs": self.total,
            "succeeded": self.count(State.SUCCEEDED),
            "failed": self.count(*ENDED_BADLY),
            "running": self.count(State.RUNNING),
            "queued": self.count(State.QUEUED),
            "problem": self.problem,
        }


def observe_line(line: Line, record: campaigns.Record, ask_scheduler: bool = True) -> LineView:
    sweep_dir = record.sweep_of(line.digest)
    if sweep_dir is None or not (sweep_dir / layout.INDEX_FILE).is_file():
        return LineView(line)  # never started, or its sweep was removed since
    try:
        view = status.observe(sweep_dir, ask_scheduler=ask_scheduler)
    except (SweepError, OSError, ValueError) as exc:
        return LineView(line, sweep_dir, problem=str(exc))
    return LineView(line, sweep_dir, view)


def observe_lines(
    lines: Sequence[Line], record: campaigns.Record, ask_scheduler: bool = True
) -> list[LineView]:
    return [observe_line(line, record, ask_scheduler) for line in lines]


def exit_code(rows: Sequence[LineView]) -> int:
    if any(row.active for row in rows):
        return 4
    if any(row.state == INCOMPLETE for row in rows):  # ended without success, nothing runs
        return 1
    if any(row.state == NOT_STARTED for row in rows):
        return 4
    return 0


def active_elsewhere(record: campaigns.Record, lines: Sequence[Line]) -> list[Path]:
    """Recorded sweeps of the campaign that no line of the file names any more, but whose
    jobs are still queued or running: they count against the cap too."""
    mine = {line.digest for line in lines}
    found = []
    for digest, entry in record.lines.items():
        sweep_dir = Path(entry["sweep_dir"])
        if digest in mine or not (sweep_dir / layout.INDEX_FILE).is_file():
            continue
        try:
            view = status.observe(sweep_dir)
        except (SweepError, OSError, ValueError):
            continue
        if views.sweep_exit_code(view) == 4:
            found.append(sweep_dir)
    return found
