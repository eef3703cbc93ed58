"""Text from users, apps and jobs made safe to show on a terminal (stdlib-only).

Overrides, paths, reasons and a job's last output line are data: shown as they are, never
as rich markup (the consoles have markup off), and with every control character spelled
out (`\\x1b`, `\\n`), so a job cannot clear the screen, move the cursor, set the window
title or print a fake line through `status`, `compare` or a progress line.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode controls that reorder or hide text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_CONTROL_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _spell(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` on one line with every control character spelled out."""
    return _CONTROL.sub(_spell, text)


def printable_lines(text: str) -> str:
    """`text` with its line breaks kept and every other control character spelled out
    (for what thesis-sweep itself lays out on several lines)."""
    return _CONTROL_BUT_NEWLINE.sub(_spell, text)
