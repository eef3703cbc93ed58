"""A run's results: the numeric leaves of the JSON files a run wrote (pure, stdlib-only).

Used by `compare`, which reads files only: no Hydra, no scheduler.

Naming rules (the README's `compare` section documents them):

* a nested number gets a dotted name: ``{"per_epoch": {"best": 3}}`` -> ``per_epoch.best``;
* booleans, strings and nulls are not metrics; **lists are skipped** when every leaf is
  collected (a per-epoch curve is not a column), but an explicit name may index one:
  ``per_epoch.val_loss.-1`` is the last element, ``per_epoch.val_loss.0`` the first;
* NaN and infinities are kept (a diverged run is a result), as floats.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

Number = int | float
DEFAULT_GLOB = "facts/*.json"


def is_number(value: Any) -> bool:
    """A JSON number (bool is not one, although Python says it is an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def flatten(doc: Any, prefix: str = "") -> Iterator[tuple[str, Number]]:
    """Every numeric leaf of `doc` as (dotted name, value), in document order; lists skipped."""
    if is_number(doc):
        if prefix:
            yield prefix, doc
        return
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))


def lookup(doc: Any, dotted: str) -> Number | None:
    """The number at `dotted` in `doc` (dict keys, and integer indices into lists), or None.

    A key that itself contains dots (``{"a.b": 1}``) is found too: at each level the
    longest key matching the remaining name wins.
    """
    parts = dotted.split(".")
    node = doc
    i = 0
    while i < len(parts):
        if isinstance(node, Mapping):
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j])
                if key in node:
                    node, i = node[key], j
                    break
            else:
                return None
        elif isinstance(node, list):
            try:
                node, i = node[int(parts[i])], i + 1
            except (ValueError, IndexError):
                return None
        else:
            return None
    return node if is_number(node) else None


def file_labels(relpaths: Sequence[str]) -> dict[str, str]:
    """A short label per matched file: its stem, or its path without `.json` if stems clash."""
    stems: dict[str, list[str]] = {}
    for rel in relpaths:
        stems.setdefault(PurePosixPath(rel).stem, []).append(rel)
    labels = {}
    for stem, rels in stems.items():
        for rel in rels:
            labels[rel] = stem if len(rels) == 1 else str(PurePosixPath(rel).with_suffix(""))
    return labels


@dataclass
class RunFiles:
    """The JSON documents matched in one run dir: relative path -> parsed document."""

    docs: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _flat: dict[str, dict[str, Number]] = field(default_factory=dict, repr=False)

    def flat(self, rel: str) -> dict[str, Number]:
        """The numeric leaves of one document by dotted name (computed once)."""
        if rel not in self._flat:
            self._flat[rel] = dict(flatten(self.docs.get(rel)))
        return self._flat[rel]


def _matches(run_dir: Path, pattern: str) -> list[str]:
    """Files under `run_dir` matching `pattern`, as sorted posix paths relative to it."""
    hits = glob.glob(pattern, root_dir=run_dir, recursive="**" in pattern)
    found = [h for h in hits if os.path.isfile(os.path.join(run_dir, h))]
    return sorted(PurePosixPath(Path(h)).as_posix() for h in found)


def read_run(run_dir: Path, pattern: str = DEFAULT_GLOB) -> RunFiles:
    """Parse every JSON file of `run_dir` matching `pattern`; unreadable ones become problems."""
    result = RunFiles()
    for rel in _matches(run_dir, pattern):
        try:
            with open(run_dir / rel, encoding="utf-8") as handle:
                result.docs[rel] = json.load(handle)
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            detail = " ".join(str(exc).split())[:120]
            result.problems.append(f"cannot read {rel} ({type(exc).__name__}: {detail})")
    return result


@dataclass(frozen=True)
class MetricColumn:
    """One metric column: its title and where to look for its value, first hit wins.

    `sources` are (file relative to the run dir, dotted path inside it). A collected
    column reads the flattened leaves; a requested one (`explicit`) may index lists.
    """

    title: str
    sources: tuple[tuple[str, str], ...]
    explicit: bool = False

    def value(self, run: RunFiles) -> Number | None:
        for rel, path in self.sources:
            if rel not in run.docs:
                continue
            found = lookup(run.docs[rel], path) if self.explicit else run.flat(rel).get(path)
            if found is not None:
                return found
        return None


def collect(runs: Sequence[RunFiles], reserved: frozenset[str]) -> list[MetricColumn]:
    """The metric columns over a whole sweep: every numeric leaf of every file.

    A name found in more than one file gets the file's label as prefix (``metrics.acc``,
    ``eval.acc``), as does a name equal to a `reserved` column (a swept key, ``state``...).
    Order: first appearance, files in sorted order, runs in job order.
    """
    labels = file_labels(sorted({rel for run in runs for rel in run.docs}))
    seen: dict[tuple[str, str], None] = {}  # (file, name), insertion-ordered
    owners: dict[str, set[str]] = {}
    for run in runs:
        for rel in sorted(run.docs):
            for name in run.flat(rel):
                if (rel, name) not in seen:
                    seen[(rel, name)] = None
                    owners.setdefault(name, set()).add(rel)
    sources: dict[str, list[tuple[str, str]]] = {}
    for rel, name in seen:
        clash = len(owners[name]) > 1 or name in reserved
        sources.setdefault(f"{labels[rel]}.{name}" if clash else name, []).append((rel, name))
    return [MetricColumn(title, tuple(where)) for title, where in sources.items()]


def requested(names: Sequence[str], runs: Sequence[RunFiles]) -> list[MetricColumn]:
    """Columns for metrics named on the command line (dotted, list indices allowed).

    A name may start with a file label (``eval.acc``) to pick that file; otherwise the
    first file (sorted) holding the name gives the value.
    """
    files = sorted({rel for run in runs for rel in run.docs})
    labels = file_labels(files)
    columns = []
    for name in dict.fromkeys(names):
        pinned = [
            (rel, name[len(lab) + 1 :]) for rel, lab in labels.items() if name.startswith(lab + ".")
        ]
        anywhere = [(rel, name) for rel in files]
        columns.append(MetricColumn(name, (*pinned, *anywhere), explicit=True))
    return columns


def finite(value: Number | None) -> Number | None:
    """`value`, or None for NaN and infinities (strict JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
