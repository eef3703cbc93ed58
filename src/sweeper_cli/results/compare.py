"""`compare`: one row per job, the swept parameters against the runs' results.

Pure apart from reading files: it takes a `SweepView` (from `status.observe`, without
asking any scheduler) and the runs' result files (see `metrics`), and builds rows, sorts
them and encodes them as JSON or CSV. Never prints, never writes, never imports Hydra.

A row is a dict keyed by column: ``job``, the swept keys (their values as written in the
job's overrides, strings), ``state``, ``duration`` (seconds), the metrics, ``run_dir``.
Missing values are None.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.results import metric_readers, metrics
from sweeper_cli.state.views import JobView, SweepView

JSON_SCHEMA_VERSION = 1
FIXED = ("job", "state", "duration", "run_dir")
MAX_NOTES = 10
MAX_HIDDEN_NAMED = 6

Row = dict[str, Any]


def bare_key(key: str) -> str:
    """An override key without Hydra's `+`, `++` or `~` prefix."""
    return key.lstrip("+~")


def override_values(overrides: Iterable[str]) -> dict[str, str]:
    """`["+a=1", "b=x"]` -> `{"a": "1", "b": "x"}` (keys without prefix; deletions skipped)."""
    values = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep:
            values[bare_key(key)] = value
    return values


def param_keys(swept_keys: Sequence[str], per_job: Sequence[dict[str, str]]) -> list[str]:
    """The parameter columns: the sweep's swept keys, else the keys whose values differ."""
    if swept_keys:
        return list(dict.fromkeys(bare_key(k) for k in swept_keys))
    keys = dict.fromkeys(k for values in per_job for k in values)
    return [k for k in keys if len({values.get(k) for values in per_job}) > 1]


def as_number(value: Any) -> float | None:
    """A sortable number for a cell (a number, or a string that parses as one), else None."""
    if metrics.is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def plural(count: int, noun: str) -> str:
    """`1 job`, `3 jobs`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _comparable(value: Any) -> Any:
    """`value`, with every NaN the same value (NaN != NaN)."""
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def constant_metrics(rows: Sequence[Row], names: Sequence[str]) -> list[str]:
    """The metrics with one value in every row that has any metric, when at least two rows
    have one; a metric that some of those rows lack is not constant."""
    with_results = [row for row in rows if any(row[name] is not None for name in names)]
    if len(with_results) < 2:
        return []
    return [name for name in names if len({_comparable(row[name]) for row in with_results}) == 1]


@dataclass
class Comparison:
    """The compare table of one sweep."""

    sweep: dict[str, Any]
    params: list[str]
    metrics: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # metrics equal in every run
    total: int = 0  # jobs in the sweep (rows may be fewer after --top)

    @property
    def columns(self) -> list[str]:
        return ["job", *self.params, "state", "duration", *self.metrics, "run_dir"]

    def check_column(self, key: str, what: str) -> str:
        """`key` if it is a column, else BadInput listing the columns."""
        if key in self.hidden:
            raise BadInput(
                f"{what} {key!r} has the same value in every run, so it is hidden: "
                "add --all-columns to use it"
            )
        if key not in self.columns:
            known = ", ".join(c for c in self.columns if c != "run_dir")
            raise BadInput(f"{what} {key!r} is not a column of this sweep (columns: {known})")
        return key


def _notes(
    jobs: Sequence[JobView], runs: Sequence[metrics.RunFiles], pattern: str | None
) -> list[str]:
    problems = [
        f"job {job.num}: {p}" for job, run in zip(jobs, runs, strict=True) for p in run.problems
    ]
    notes = problems[:MAX_NOTES]
    if len(problems) > MAX_NOTES:
        notes.append(f"... and {plural(len(problems) - MAX_NOTES, 'more unreadable file')}")
    unread = sum(1 for run in runs if run.unread_events)
    if unread:
        notes.append(
            f"{plural(unread, 'run')} {'has' if unread == 1 else 'have'} TensorBoard event "
            f"files, not read: {metric_readers.TENSORBOARD_HINT}"
        )
    elif jobs and not any(run.docs for run in runs):
        where = f"matching {pattern}" if pattern else f"({metrics.LOOKED_FOR})"
        notes.append(f"no run has a readable results file {where}; --files GLOB names others")
    return notes


def _hide_constants(table: Comparison) -> None:
    """Drop the metrics that never change from the table, naming them in a note."""
    table.hidden = constant_metrics(table.rows, table.metrics)
    if not table.hidden:
        return
    table.metrics = [name for name in table.metrics if name not in table.hidden]
    for row in table.rows:
        for name in table.hidden:
            del row[name]
    named = ", ".join(table.hidden[:MAX_HIDDEN_NAMED])
    more = len(table.hidden) - MAX_HIDDEN_NAMED
    table.notes.append(
        f"{plural(len(table.hidden), 'metric')} the same in every run, hidden: {named}"
        f"{f' and {more} more' if more > 0 else ''} (--all-columns shows them)"
    )


def build(
    view: SweepView,
    pattern: str | None = None,
    wanted: Sequence[str] = (),
    all_columns: bool = False,
) -> Comparison:
    """Read every run's result files and build the table (jobs in job order).

    `pattern` None reads what the default discovery finds. Metrics equal in every run are
    hidden unless `all_columns` or named in `wanted`.
    """
    sweep = view.header
    per_job = [override_values(job.overrides) for job in view.jobs]
    params = param_keys(sweep.swept_keys, per_job)
    runs = [
        metrics.read_run(job.run_dir, pattern) if job.run_dir else metrics.RunFiles()
        for job in view.jobs
    ]
    reserved = frozenset((*FIXED, *params))
    columns = metrics.requested(wanted, runs) if wanted else metrics.collect(runs, reserved)
    notes = _notes(view.jobs, runs, pattern)
    for column in columns if wanted else ():
        if all(column.value(run) is None for run in runs) and any(r.docs for r in runs):
            found = metrics.collect(runs, frozenset())
            names = ", ".join(c.title for c in found[:12]) or "none"
            notes.append(f"no run has metric {column.title!r} (metrics found: {names})")
    rows = []
    for job, values, run in zip(view.jobs, per_job, runs, strict=True):
        duration = job.duration()
        row: Row = {"job": job.num}
        row.update({key: values.get(key) for key in params})
        row["state"] = job.state.value
        row["duration"] = None if duration is None else round(duration, 3)
        row.update({column.title: column.value(run) for column in columns})
        row["run_dir"] = None if job.run_dir is None else str(job.run_dir)
        rows.append(row)
    info = {
        "id": sweep.id,
        "name": sweep.name,
        "dir": str(view.sweep_dir),
        "created": sweep.created,
        "output_root": str(view.output_root),
        "swept_keys": list(sweep.swept_keys),
        "files": pattern,
    }
    titles = [column.title for column in columns]
    if len(set(titles) & reserved):  # explicit names may still clash with a fixed column
        clash = sorted(set(titles) & reserved)[0]
        raise BadInput(f"--metric {clash!r} clashes with a column of the same name")
    table = Comparison(info, params, titles, rows, notes, total=len(rows))
    if not (wanted or all_columns):
        _hide_constants(table)
    return table


def sort_rows(rows: Sequence[Row], key: str, descending: bool = False) -> list[Row]:
    """Rows ordered by `key`; missing values (and NaN) last in both directions (stable).

    Numbers, and strings that all parse as numbers (`lr=1e-3,3e-4`), sort numerically;
    other strings alphabetically.
    """
    present = [row for row in rows if not missing(row.get(key))]
    absent = [row for row in rows if missing(row.get(key))]
    numbers = [n for n in (as_number(row[key]) for row in present) if n is not None]
    if len(numbers) == len(present):
        order = sorted(
            zip(numbers, present, strict=True), key=lambda pair: pair[0], reverse=descending
        )
        present = [row for _, row in order]
    else:
        present = sorted(present, key=lambda row: str(row[key]), reverse=descending)
    return present + absent


def objective(view: SweepView, table: Comparison) -> tuple[str, bool] | None:
    """A search's first objective and whether larger is better, if it is a column."""
    record = view.header.raw.get("search")
    if not isinstance(record, dict):
        return None
    names, directions = record.get("objectives") or [], record.get("directions") or []
    if not names or str(names[0]) not in table.metrics:
        return None
    return str(names[0]), bool(directions) and directions[0] == "maximize"


def select(table: Comparison, sort: str | None, descending: bool, top: int | None) -> None:
    """Sort (a leading `-` on the key means descending) and keep the first `top` rows."""
    if sort:
        if sort.startswith("-") and sort not in table.columns:
            sort, descending = sort[1:], True
        table.rows = sort_rows(table.rows, table.check_column(sort, "--sort"), descending)
    if top is not None:
        table.rows = table.rows[:top]


def _json_cell(value: Any) -> Any:
    return metrics.finite(value) if metrics.is_number(value) else value


def to_json(table: Comparison) -> dict[str, Any]:
    """The `compare --json` envelope (strict JSON: NaN and infinities become null)."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "sweep": table.sweep,
        "params": table.params,
        "metrics": table.metrics,
        "hidden": table.hidden,
        "columns": table.columns,
        "rows": [{k: _json_cell(v) for k, v in row.items()} for row in table.rows],
    }


def to_csv(table: Comparison) -> str:
    """The table as CSV: a header of column names, empty cells for missing values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in table.columns])
    return out.getvalue()
