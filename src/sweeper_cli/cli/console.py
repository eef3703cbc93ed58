"""Consoles: stdout for results, stderr for progress and diagnostics.

Both show every string as text: no rich markup, no emoji codes, no highlighting, and
control characters spelled out (`escape.printable_lines`), so a value such as
`+paths=[/data/a]` or a job's output line with `[/bold]` or terminal escapes is shown as
written. Styles come only from `style=` and `Text` objects thesis-sweep builds itself.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from sweeper_cli.cli.escape import printable_lines


class TextConsole(Console):
    """A rich console that renders every string literally."""

    def __init__(self, **options: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **options)

    def render_str(self, text: str, **options: Any) -> Text:
        options.update(markup=False, emoji=False, highlight=False)
        return super().render_str(printable_lines(text), **options)


def stdout() -> Console:
    # Pipes and log files get wide tables rather than rich's 80-column default.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return TextConsole(soft_wrap=False, width=160 if wide else None)


def stderr() -> Console:
    # soft_wrap: a long path stays on one line, so scripts can grep it.
    return TextConsole(stderr=True, soft_wrap=True)


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()
