"""`thesis-sweep logs SWEEP JOB`: a job's captured output."""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path

import typer

from sweeper_cli.cli.common import OUTPUT_ROOT, locate
from sweeper_cli.errors import BadInput
from sweeper_cli.states import State
from sweeper_cli.store import layout, run_files, runptrs, runs_index, submissions


def _state(run_dir: Path) -> str:
    try:
        return run_files.read_status(run_dir).state.value
    except (OSError, ValueError):
        return State.LOST.value


def _follow(log: Path, run_dir: Path, start: int, interval: float = 0.2) -> None:
    position = start
    while True:
        ended = State(_state(run_dir)).is_terminal()
        try:
            with log.open("rb") as handle:
                handle.seek(position)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            position += len(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        if ended and not chunk:
            return
        time.sleep(interval)


def _write(data: bytes, tail: int | None) -> None:
    if tail is not None:
        data = b"".join(deque(data.splitlines(keepends=True), maxlen=max(tail, 0)))
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _scheduler_files(sweep_dir: Path, index: runs_index.Index, num: int) -> list[Path]:
    """The scheduler's output files of the newest submission that held job `num`."""
    from sweeper_cli.launch.backends.cluster import scheduler_logs

    held = [s for s in submissions.read_submissions(sweep_dir, index) if num in s.job_ids]
    if not held:
        return []
    newest = held[-1]
    backend = index.header.backend
    task = newest.tasks.get(num, num)  # a packed job's files are its pack's
    return scheduler_logs(sweep_dir, backend, newest.logs, newest.job_ids[num], task)


def logs(
    target: list[str] = typer.Argument(
        ..., metavar="[SWEEP] JOB", help="The job number, after the sweep (default: the newest)."
    ),
    tail: int = typer.Option(None, "--tail", "-n", help="Only the last N lines."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends."),
    scheduler: bool = typer.Option(
        False,
        "--scheduler",
        help="Cluster: the scheduler's own .out/.err files of the job's newest submission "
        "(shown anyway when the job wrote no output, e.g. its set-up lines failed).",
    ),
    output_root: str = OUTPUT_ROOT,
) -> int:
    """Print a job's captured stdout and stderr.

    SWEEP is a sweep folder, its name or a unique part of it (default: the newest sweep);
    JOB is the job number: `thesis-sweep logs 3` or `thesis-sweep logs exp_..._x 3`.
    """
    if len(target) > 2 or not target[-1].isdigit():
        raise BadInput("give [SWEEP] JOB, e.g. `thesis-sweep logs 3` or `... logs SWEEP 3`")
    sweep = target[0] if len(target) == 2 else None
    job = int(target[-1])
    sweep_dir = locate(sweep, output_root)
    index = runs_index.read_index(sweep_dir)
    found = [d for entry, d in runptrs.job_dirs(index, sweep_dir) if entry.num == job]
    if not found:
        raise BadInput(f"no job {job} in {sweep_dir.name} (jobs 0-{len(index.jobs) - 1})")
    run_dir = found[0]
    if run_dir is None:
        raise BadInput(f"job {job} has no run dir on record")
    log = layout.log_path(run_dir)
    if scheduler or (not log.exists() and not follow):
        files = [f for f in _scheduler_files(sweep_dir, index, job) if f.exists()]
        if files:
            for path in files:
                sys.stderr.write(f"--- {path} ---\n")
                sys.stderr.flush()
                _write(path.read_bytes(), tail)
            return 0
        if scheduler:
            raise BadInput(f"job {job} has no scheduler output files (yet)")
        raise BadInput(f"job {job} has no output yet ({log} does not exist)")
    data = log.read_bytes() if log.exists() else b""
    _write(data, tail)
    if follow:
        _follow(log, run_dir, len(data))
    return 0
