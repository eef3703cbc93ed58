"""Whether a folder is still being written: a live process works in it or holds a file in
it open (Linux: /proc), or its files change while it is watched. Stdlib-only.

`adopt` asks before it moves a Hydra multirun's job folders: moving a folder that a running
job writes into would crash the job and record a half-run job as done.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

WATCH_SECONDS = 1.5  # how long a folder is watched for changing files


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = handle.read().split(b"\0")
    except OSError:
        return "?"
    return " ".join(w.decode(errors="replace") for w in words if w)[:120] or "?"


def live_writer(folder: Path) -> str | None:
    """`pid N (its command line)` of a process whose working directory or an open file is
    inside `folder`, or None (also where /proc cannot tell)."""
    root = os.path.realpath(folder)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return None
    for pid in pids:
        links = [f"/proc/{pid}/cwd"]
        with contextlib.suppress(OSError):  # gone, or not ours to look at
            links += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
        for link in links:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if _inside(target, root):
                return f"pid {pid} ({_cmdline(pid)})"
    return None


def _files(folder: Path) -> dict[str, tuple[float, int]]:
    found = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            with contextlib.suppress(OSError):
                info = os.stat(path)
                found[path] = (info.st_mtime, info.st_size)
    return found


def changing_file(folder: Path, watch: float = WATCH_SECONDS) -> str | None:
    """A file of `folder` that appeared, changed or went away while watched for `watch`
    seconds (a writer on another host, seen through a shared file system), or None."""
    before = _files(folder)
    time.sleep(watch)
    after = _files(folder)
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            return os.path.relpath(path, folder)
    return None


def still_written(folder: Path) -> str | None:
    """Why `folder` must not be moved now, or None."""
    writer = live_writer(folder)
    if writer is not None:
        return f"a live process works in it: {writer}"
    changed = changing_file(folder)
    if changed is not None:
        return f"its files are still changing ({changed} changed while watched)"
    return None
