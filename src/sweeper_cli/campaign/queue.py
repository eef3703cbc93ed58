"""A campaign's queue file: one sweep per line.

Each line holds a sweep's overrides as on `run`'s command line, quoted as a shell would
(`'seed=range(3)'`), and may name its sweep (`--name ch5_baseline`); `#` starts a comment
and blank lines are skipped. The overrides given on the command line after the file are
added to every line. A line is known by its digest: the words it holds and the shared
overrides (a repeated line gets its own by its occurrence), so moving lines, adding
comments or spaces changes nothing, while editing a line makes it a new experiment.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sweeper_cli.errors import BadInput


@dataclass(frozen=True)
class Line:
    """One line of a queue file that names a sweep."""

    number: int  # in the file, from 1
    text: str  # as written, without its comment
    overrides: tuple[str, ...]  # the line's, then the shared ones
    name: str | None  # its own --name
    digest: str


def _words(text: str, number: int, path: Path) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError as exc:
        raise BadInput(f"{path}, line {number}: {exc} ({text.strip()!r})") from None


def _split(words: list[str], number: int, path: Path) -> tuple[list[str], str | None]:
    """The overrides and the `--name` of a line's words."""
    overrides: list[str] = []
    name: str | None = None
    rest = iter(words)
    for word in rest:
        if word == "--name":
            name = next(rest, None)
            if name is None:
                raise BadInput(f"{path}, line {number}: --name needs a value")
        elif word.startswith("--name="):
            name = word.partition("=")[2]
        elif word.startswith("-"):
            raise BadInput(
                f"{path}, line {number}: {word!r}: a line holds overrides and may name its "
                "sweep with --name; give run's other options on the command line"
            )
        else:
            overrides.append(word)
    return overrides, name


def digest(words: Sequence[str], shared: Sequence[str], occurrence: int) -> str:
    """What identifies a line across runs of the campaign."""
    data: dict[str, object] = {"words": list(words), "shared": list(shared)}
    if occurrence > 1:
        data["occurrence"] = occurrence
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def read_queue(path: Path, shared: Sequence[str] = ()) -> list[Line]:
    """The lines of a queue file that name sweeps; BadInput for a file that cannot be read,
    a line that cannot be split, an option a line may not carry, or no line at all."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read the queue file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BadInput(f"the queue file {path} is not UTF-8 text") from None
    lines: list[Line] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        words = _words(raw, number, path)
        if not words:
            continue
        overrides, name = _split(words, number, path)
        if not overrides:
            raise BadInput(f"{path}, line {number}: no overrides, only --name")
        seen[tuple(words)] = seen.get(tuple(words), 0) + 1
        lines.append(
            Line(
                number=number,
                text=shlex.join(words),
                overrides=(*overrides, *shared),
                name=name,
                digest=digest(words, shared, seen[tuple(words)]),
            )
        )
    if not lines:
        raise BadInput(f"the queue file {path} names no sweep (one per line; # comments)")
    return lines
