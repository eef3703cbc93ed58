"""Who may write a sweep now: the launch lock (one process at a time starts its jobs, and
says so in .launcher.json), the folder lock under it, and the check that a folder can be
written at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sweeper_cli.errors import BadInput
from sweeper_cli.store import records
from sweeper_cli.store.jobfiles import hostname, read_json, start_ticks
from sweeper_cli.store.layout import LAUNCHER_FILE, atomic_write_json


def require_writable(folder: Path, doing: str) -> None:
    """BadInput unless `folder` can be written (a read-only mount, someone else's results)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"cannot {doing}: {folder} is not writable (read-only?)")


@contextlib.contextmanager
def folder_lock(folder: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive advisory `flock` on `folder` itself (no extra file in it); it is
    released when the process ends, however it ends. Taken: BadInput(`busy`). Where flock
    does not exist (Windows) this is a no-op."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(busy) from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def launch_lock(sweep_dir: Path) -> Iterator[None]:
    """One process at a time starts a sweep's jobs (the runner's per-attempt claim still
    prevents double starts where flock does not exist). The holder is named in
    `.launcher.json` while it holds the lock, so `status` can tell that a launch is under
    way (and not call a sweep done while `resume` prepares its jobs)."""
    busy = (
        f"another thesis-sweep process is launching jobs of {sweep_dir.name}; "
        "wait for it or cancel it first"
    )
    with folder_lock(sweep_dir, busy):
        me = {"host": hostname(), "pid": os.getpid(), "pid_start": start_ticks(os.getpid())}
        with contextlib.suppress(OSError):
            atomic_write_json(sweep_dir / LAUNCHER_FILE, me)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(sweep_dir / LAUNCHER_FILE)


def launching(sweep_dir: Path) -> records.Process | None:
    """The process that holds the sweep's launch lock, as it said (it may be dead)."""
    try:
        return records.Process.parse(read_json(sweep_dir / LAUNCHER_FILE), LAUNCHER_FILE)
    except (OSError, ValueError):
        return None
