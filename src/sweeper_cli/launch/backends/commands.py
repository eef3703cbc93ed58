"""The one place that runs scheduler commands: argv lists, a timeout on every call.

Tests of parsers use recorded output; tests of backends use the real schedulers.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from sweeper_cli.errors import BackendFailure

# Scheduler daemons can stall (a busy slurmctld, an unreachable schedd): a status call
# must come back, so every call has a timeout and a clear error instead of a hang.
QUERY_TIMEOUT = 30.0
SUBMIT_TIMEOUT = 120.0


def run_scheduler(
    argv: Sequence[str], timeout: float = QUERY_TIMEOUT, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a scheduler command; missing command or timeout -> BackendFailure (exit 3)."""
    if shutil.which(argv[0]) is None:
        raise BackendFailure(
            f"{argv[0]} not found on PATH: run this on a node of the cluster "
            "(or load its module), or choose another --backend"
        )
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise BackendFailure(
            f"{argv[0]} did not answer within {timeout:.0f} s: is the scheduler reachable?"
        ) from None


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[:3]) or "(no output)"
