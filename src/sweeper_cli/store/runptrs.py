"""runptrs/<N>: each job's run dir, as a relative symlink (or a text file holding the
relative path where links fail), so it holds wherever the outputs are mounted."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from sweeper_cli.store import records
from sweeper_cli.store.jobfiles import read_runptr
from sweeper_cli.store.layout import RUNPTRS, atomic_write_text
from sweeper_cli.store.runs_index import Index


def write_runptr(sweep_dir: Path, num: int, run_dir: Path) -> None:
    """`runptrs/<num>` -> run dir as a relative symlink, or a text file where links fail."""
    folder = sweep_dir / RUNPTRS
    folder.mkdir(exist_ok=True)
    target = os.path.relpath(run_dir, folder)
    link = folder / str(num)
    tmp = folder / f".{num}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.symlink(target, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        # No symlink privilege (Windows): a text file holding the same relative path.
        atomic_write_text(link, target.replace(os.sep, "/") + "\n")
        return
    os.replace(tmp, link)


def read_runptrs(sweep_dir: Path) -> dict[int, Path]:
    """Each job's run dir as its runptr says (relative to the sweep folder, so it holds
    wherever the outputs are mounted)."""
    found: dict[int, Path] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir(sweep_dir / RUNPTRS):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    found[int(name)] = read_runptr(sweep_dir, int(name))
    return found


def job_dirs(index: Index, sweep_dir: Path) -> Sequence[tuple[records.JobEntry, Path | None]]:
    """Each index job with its run dir: its runptr, else the index's record."""
    pointers = read_runptrs(sweep_dir)
    root = index.header.output_root
    return [
        (job, pointers.get(job.num) or (root / job.run_dir if job.run_dir else None))
        for job in index.jobs
    ]
