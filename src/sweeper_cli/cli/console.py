"""Consoles: stdout for results, stderr for progress and diagnostics."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console


def stdout() -> Console:
    # Pipes and log files get wide tables rather than rich's 80-column default.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(soft_wrap=False, width=160 if wide else None)


def stderr() -> Console:
    # soft_wrap: a long path stays on one line, so scripts can grep it.
    return Console(stderr=True, soft_wrap=True)


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()
