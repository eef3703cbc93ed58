"""Process identity helpers (stdlib-only): is a recorded pid still the same process?"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def hostname() -> str:
    return platform.node()


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])


def is_alive(pid: int, ticks: int | None) -> bool:
    """Whether `pid` runs on this host and, when `ticks` is known, is the same process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:  # Windows: os.kill(pid, 0) is not a liveness probe there
        return False
    if ticks is None:
        return True
    now = start_ticks(pid)
    return now is None or now == ticks


def detached() -> dict[str, Any]:
    """Popen keyword arguments that start a process in its own group/session, so a
    terminal's Ctrl-C reaches only us and a whole job can be signalled as one group."""
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}


def kill_group(pid: int) -> None:
    """SIGKILL a process group led by `pid` (the process itself on Windows)."""
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            os.kill(pid, signal.SIGTERM)
