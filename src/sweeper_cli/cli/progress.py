"""Live progress of a running sweep: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sweeper_cli.cli.escape import printable, printable_lines
from sweeper_cli.cli.render import STATE_STYLE
from sweeper_cli.launch.backends.base import Event
from sweeper_cli.states import State


class Reporter:
    """Receives backend events and shows them; use as a context manager."""

    def __init__(
        self,
        total: int,
        labels: Mapping[int, str],
        console: Console,
        jobs: Mapping[Path, tuple[str, str]] | None = None,
    ) -> None:
        """`labels`: each job number's overrides; `jobs` instead names jobs of several
        sweeps by their run dir: (who, e.g. "line 2 job 0", overrides)."""
        self.total = total
        self.labels = labels
        self.jobs = jobs or {}
        self.console = console
        self.started: dict[object, float] = {}
        self.live = console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[running]} running"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("sweep", total=total, running=0)

    def __enter__(self) -> Reporter:
        if self.live:
            self.progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live:
            self.progress.stop()

    def _line(self, text: str, style: str = "") -> None:
        if self.live:
            self.progress.console.print(text, style=style, highlight=False)
        else:
            print(printable_lines(text), file=sys.stderr, flush=True)

    def __call__(self, event: Event) -> None:
        key: object = event.num
        who, label = f"job {event.num}", self.labels.get(event.num, "")
        if event.run_dir is not None and event.run_dir in self.jobs:
            key = event.run_dir
            who, label = self.jobs[event.run_dir]
        label = printable(label)
        if event.kind == "started":
            self.started[key] = time.monotonic()
            self._line(f"{who} started: {label}", "dim")
        elif event.kind == "finished":
            took = time.monotonic() - self.started.pop(key, time.monotonic())
            detail = f", {printable(event.detail)}" if event.detail else ""
            state = State(event.state or State.LOST.value)
            self._line(f"{who} {state.value} ({took:.1f}s{detail}): {label}", STATE_STYLE[state])
            self.progress.advance(self.task)
        elif event.kind == "note":
            self._line(f"note: {printable(str(event.detail))}", "dim")
        elif event.kind == "interrupted":
            self._line(printable(str(event.detail)), "yellow")
        self.progress.update(self.task, running=len(self.started))
