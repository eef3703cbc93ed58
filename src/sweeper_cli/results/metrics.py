"""A run's results: the numbers in the files it wrote, found and named (stdlib at import).

Used by `compare`, which reads files only: no Hydra, no scheduler. The files are found by
`discover` (or a `--files` glob) and parsed by `metric_readers`.

Discovery, relative to the run dir, in this order (the README's `compare` section too):

1. ``metrics.json``, ``results.json`` (and ``.yaml``/``.yml``) at the top;
2. other top-level JSON/YAML files whose name contains ``metrics`` or ``results`` or
   starts with ``eval`` (``eval.json``, ``test_results.yaml``);
3. ``facts/*.json``, ``facts/*.yaml``, ``facts/*.yml``;
4. ``metrics.csv`` up to three folders down (Lightning's ``CSVLogger``:
   ``lightning_logs/version_N/metrics.csv``);
5. TensorBoard event files anywhere below, one source per folder.

Within a step, paths sort alphabetically. Where a logger wrote ``version_N`` folders
side by side, only the highest N is read. Hidden folders (``.hydra``, ``.sweep``) are
never entered: they hold configuration and bookkeeping, not results.

Naming rules:

* a nested number gets a dotted name: ``{"per_epoch": {"best": 3}}`` -> ``per_epoch.best``;
* booleans, strings and nulls are not metrics; **lists are skipped** when every leaf is
  collected (a per-epoch curve is not a column), but an explicit name may index one:
  ``per_epoch.val_loss.-1`` is the last element, ``per_epoch.val_loss.0`` the first;
* a logged series (CSV log, TensorBoard) gives ``<name>`` (last) and ``<name>.best``;
* NaN and infinities are kept (a diverged run is a result), as floats.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sweeper_cli.results import metric_readers
from sweeper_cli.results.metric_readers import EVENTS_PREFIX

Number = int | float
DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml")
CSV_LOG = "metrics.csv"
CSV_LOG_DEPTH = 3  # folders below the run dir: save_dir/name/version_N/metrics.csv
EVENTS_SOURCE = EVENTS_PREFIX + "*"  # a source's name for all the event files of a folder
VERSION_FOLDER = re.compile(r"version_(\d+)")
LOOKED_FOR = (
    "metrics/results .json/.yaml, eval*, facts/*, metrics.csv logs, TensorBoard event files"
)


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


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def _logger_folder(path: PurePosixPath) -> str | None:
    """The folder a logger named, for a log in ``<name>/version_N/`` or ``<name>/``."""
    folder = path.parent
    if VERSION_FOLDER.fullmatch(folder.name):
        folder = folder.parent
    return folder.name or None


def short_label(rel: str) -> str:
    """A source's short name: a file's stem; a logger's folder for its log."""
    path = PurePosixPath(rel)
    if path.name == CSV_LOG or path.name.startswith(EVENTS_PREFIX):
        return _logger_folder(path) or path.stem.split(".")[0]
    return path.stem


def long_label(rel: str) -> str:
    """A source's path without its extension (a folder, for a folder of event files)."""
    path = PurePosixPath(rel)
    if path.name == EVENTS_SOURCE and str(path.parent) != ".":
        return str(path.parent)
    return str(path.with_suffix(""))


def file_labels(rels: Sequence[str]) -> dict[str, str]:
    """A label per source: its short name, else its path without extension, else its path,
    whichever is the first that no other source shares."""
    namers: tuple[Callable[[str], str], ...] = (short_label, long_label, str)
    counts = [Counter(namer(rel) for rel in rels) for namer in namers]
    labels = {}
    for rel in rels:
        for namer, count in zip(namers, counts, strict=True):
            if count[namer(rel)] == 1:
                labels[rel] = namer(rel)
                break
    return labels


def discovery_step(rel: str) -> int | None:
    """The step (0 first) of the default discovery that reads file `rel`, or None."""
    path = PurePosixPath(rel)
    depth = len(path.parts) - 1
    document = path.suffix in DOCUMENT_SUFFIXES and not path.name.startswith(".")
    if depth == 0 and document:
        if path.stem in ("metrics", "results"):
            return 0
        if "metrics" in path.stem or "results" in path.stem or path.stem.startswith("eval"):
            return 1
    if depth == 1 and path.parts[0] == "facts" and document:
        return 2
    if path.name == CSV_LOG and depth <= CSV_LOG_DEPTH:
        return 3
    if path.name.startswith(EVENTS_PREFIX):
        return 4
    return None


def source_order(rel: str) -> tuple[int, str]:
    """Sort key: discovery step, then path; anything else (from --files) after."""
    step = discovery_step(rel)
    return (5 if step is None else step, rel)


def newest_versions(folders: Iterable[str]) -> list[str]:
    """`folders` without any ``version_N`` folder that has a higher-numbered sibling."""
    newest: dict[str, tuple[int, str]] = {}
    others = set()
    for folder in folders:
        path = PurePosixPath(folder)
        match = VERSION_FOLDER.fullmatch(path.name)
        if match is None:
            others.add(folder)
            continue
        number, parent = int(match.group(1)), str(path.parent)
        if parent not in newest or number > newest[parent][0]:
            newest[parent] = (number, folder)
    return sorted(others | {folder for _, folder in newest.values()})


def _files(run_dir: Path) -> Iterator[str]:
    """Every file below `run_dir`, hidden folders skipped, as posix paths relative to it."""
    for top, dirs, names in os.walk(run_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        folder = Path(top).relative_to(run_dir).as_posix()
        for name in names:
            yield _join(folder, name)


def discover(run_dir: Path) -> list[str]:
    """The sources the default discovery reads in `run_dir`, in discovery order.

    A source is a file, or ``<folder>/events.out.tfevents.*`` for a folder's event files.
    """
    sources, logs, event_folders = [], [], set()
    for rel in _files(run_dir):
        step = discovery_step(rel)
        folder = str(PurePosixPath(rel).parent)
        if step == 3:
            logs.append(folder)
        elif step == 4:
            event_folders.add(folder)
        elif step is not None:
            sources.append(rel)
    sources += [_join(folder, CSV_LOG) for folder in newest_versions(logs)]
    sources += [_join(folder, EVENTS_SOURCE) for folder in newest_versions(event_folders)]
    return sorted(sources, key=source_order)


def _matches(run_dir: Path, pattern: str) -> list[str]:
    """Files under `run_dir` matching `pattern`, as posix paths relative to it."""
    hits = glob.glob(pattern, root_dir=run_dir, recursive="**" in pattern)
    found = [h for h in hits if os.path.isfile(os.path.join(run_dir, h))]
    return [PurePosixPath(Path(h)).as_posix() for h in found]


def read_source(run_dir: Path, rel: str) -> Any:
    """Parse one source of `run_dir`, by its name: JSON unless it says otherwise."""
    path = PurePosixPath(rel)
    if path.name == EVENTS_SOURCE:
        return metric_readers.read_events(run_dir / path.parent)
    if path.name.startswith(EVENTS_PREFIX):
        return metric_readers.read_events(run_dir / rel)
    if path.suffix in (".yaml", ".yml"):
        return metric_readers.read_yaml(run_dir / rel)
    if path.suffix == ".csv":
        return metric_readers.read_csv_log(run_dir / rel)
    return metric_readers.read_json(run_dir / rel)


@dataclass
class RunFiles:
    """The documents read in one run dir: source (relative path) -> parsed document.

    `unread_events` are event-file sources left unread: the tensorboard extra is missing.
    """

    docs: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unread_events: list[str] = field(default_factory=list)
    _flat: dict[str, dict[str, Number]] = field(default_factory=dict, repr=False)

    def flat(self, rel: str) -> dict[str, Number]:
        """The numeric leaves of one document by dotted name (computed once)."""
        if rel not in self._flat:
            self._flat[rel] = dict(flatten(self.docs.get(rel)))
        return self._flat[rel]


def read_run(run_dir: Path, pattern: str | None = None) -> RunFiles:
    """Read `run_dir`'s sources (the default discovery's, or the files matching `pattern`);
    unreadable ones become problems."""
    rels = discover(run_dir) if pattern is None else _matches(run_dir, pattern)
    result = RunFiles()
    for rel in sorted(rels, key=source_order):
        try:
            result.docs[rel] = read_source(run_dir, rel)
        except metric_readers.TensorboardMissing:
            result.unread_events.append(rel)
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
    Order: first appearance, files in discovery order, runs in job order.
    """
    labels = file_labels(sorted({rel for run in runs for rel in run.docs}, key=source_order))
    seen: dict[tuple[str, str], None] = {}  # (file, name), insertion-ordered
    owners: dict[str, set[str]] = {}
    for run in runs:
        for rel in sorted(run.docs, key=source_order):
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
    first file (in discovery order) holding the name gives the value.
    """
    files = sorted({rel for run in runs for rel in run.docs}, key=source_order)
    labels = file_labels(files)
    columns = []
    for name in dict.fromkeys(names):
        pinned = [
            (rel, name[len(lab) + 1 :]) for rel, lab in labels.items() if name.startswith(lab + ".")
        ]
        anywhere = [(rel, name) for rel in files]
        columns.append(MetricColumn(name, (*pinned, *anywhere), explicit=True))
    return columns


def metric_value(run_dir: Path, name: str) -> float | None:
    """Metric `name` of the run in `run_dir`, found by the default discovery, or None.

    `name` is a column as `compare` shows it (``val_loss``, ``metrics.val_loss``,
    ``val/acc.best``, ``per_epoch.val_loss.-1``). NaN and infinities come back as they are.
    """
    run = read_run(run_dir)
    (column,) = requested([name], [run])
    value = column.value(run)
    return None if value is None else float(value)


def finite(value: Number | None) -> Number | None:
    """`value`, or None for NaN and infinities (strict JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
