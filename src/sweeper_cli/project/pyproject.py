"""Write thesis-sweep's settings into a pyproject.toml, keeping every other byte as it was.

The `[tool.thesis-sweep]` table is appended (or, when asked, its own key lines replaced);
sub-tables such as `[tool.thesis-sweep.profiles.x]`, comments and formatting elsewhere stay
untouched. Values are written as TOML basic strings and arrays; the result is read back
with tomllib before it replaces the file (atomically).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from sweeper_cli.errors import BadInput

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

HEADER = "[tool.thesis-sweep]"
_ANY_HEADER = re.compile(r"^\[", re.MULTILINE)


def basic_string(text: str) -> str:
    """A TOML basic string: quote and backslash escaped, control characters as \\uXXXX."""
    body = "".join(
        "\\" + ch
        if ch in '"\\'
        else (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
        for ch in text
    )
    return f'"{body}"'


def toml_value(value: str | Sequence[str]) -> str:
    """A TOML basic string, or an array of them."""
    if isinstance(value, str):
        return basic_string(value)
    return "[" + ", ".join(basic_string(v) for v in value) + "]"


def table_text(values: Mapping[str, str | Sequence[str]], comments: Sequence[str]) -> str:
    lines = [HEADER, *(f"# {c}" for c in comments)]
    lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def with_table(
    text: str, values: Mapping[str, str | Sequence[str]], comments: Sequence[str], replace: bool
) -> str:
    """`text` with the table added (or its key lines replaced when `replace`)."""
    return with_block(text, HEADER, table_text(values, comments), replace)


def with_block(text: str, header: str, block: str, replace: bool) -> str:
    """`text` with the table `block` (starting with its `header` line) appended, or put in
    place of that table's lines when `replace`."""
    pattern = re.compile(rf"^{re.escape(header)}[ \t]*(#.*)?$", re.MULTILINE)
    match = pattern.search(text)
    if match is None:
        glue = (
            "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        )
        return text + glue + block
    if not replace:
        raise BadInput(f"{header} exists already: edit it, or run init --force")
    following = _ANY_HEADER.search(text, match.end())
    end = following.start() if following else len(text)
    tail = text[end:]
    return text[: match.start()] + block + ("\n" if tail else "") + tail


def write_block(pyproject: Path, header: str, block: str, replace: bool = False) -> None:
    """Add a sub-table (e.g. a profile) to `pyproject`, checked by reading it back."""
    from sweeper_cli.store.layout import atomic_write_text

    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    new = with_block(text, header, block, replace)
    try:
        tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"cannot add {header} to {pyproject}: {exc}") from None
    atomic_write_text(pyproject, new)


def write_settings(
    pyproject: Path,
    values: Mapping[str, str | Sequence[str]],
    comments: Sequence[str] = (),
    replace: bool = False,
) -> str:
    """Add the table to `pyproject` (created if missing); return the table written."""
    from sweeper_cli.store.layout import atomic_write_text

    text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    new = with_table(text, values, comments, replace)
    try:
        written = tomllib.loads(new)["tool"]["thesis-sweep"]
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise BadInput(f"cannot add the settings to {pyproject}: {exc}") from None
    if any(written.get(k) != v for k, v in values.items() if isinstance(v, str)):
        raise BadInput(f"cannot add the settings to {pyproject}: they read back differently")
    atomic_write_text(pyproject, new)
    return table_text(values, comments)
