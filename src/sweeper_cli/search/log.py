"""One line of the search controller's log (its stdout is search/controller.log)."""

from __future__ import annotations


def say(text: str) -> None:
    from datetime import datetime

    stamp = datetime.now().isoformat(sep=" ", timespec="milliseconds")
    print(f"[{stamp}] {text}", flush=True)
