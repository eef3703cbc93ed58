"""`compare --plot`: one metric against one column, a line per value of another.

matplotlib is an optional extra (`pip install 'thesis-sweep[plot]'`), imported only here
and only when a plot is asked for; it draws with the Agg backend (no display needed).
`series` is pure; `draw` renders a PNG and writes it atomically.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.results.compare import Comparison, as_number, missing
from sweeper_cli.store import jobfiles

INSTALL_HINT = "pip install 'thesis-sweep[plot]'"


def require_matplotlib() -> None:
    """Raise BadInput (one line, naming the install command) when matplotlib can't import."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as exc:
        raise BadInput(f"--plot needs matplotlib ({exc}): {INSTALL_HINT}") from None
    matplotlib.use("Agg")


@dataclass(frozen=True)
class Axes:
    """Which columns go where; `hue` None draws a single line."""

    x: str
    y: str
    hue: str | None
    logx: bool = False
    logy: bool = False


def choose_axes(
    table: Comparison,
    x: str | None,
    y: str | None,
    hue: str | None,
    logx: bool = False,
    logy: bool = False,
    hue_default: bool = True,
) -> Axes:
    """Fill in defaults (x: first swept key, y: first metric, hue: the next swept key,
    unless not `hue_default`) and check every name against the table's columns."""
    x = x or (table.params[0] if table.params else None)
    y = y or (table.metrics[0] if table.metrics else None)
    if x is None:
        raise BadInput("--plot needs --x KEY: this sweep has no swept keys")
    if y is None:
        raise BadInput("--plot needs --y METRIC: no metric was found in this sweep's runs")
    table.check_column(x, "--x")
    table.check_column(y, "--y")
    if y not in (*table.metrics, "duration"):
        raise BadInput(f"--y {y!r} is not a metric (metrics: {', '.join(table.metrics)})")
    if hue is None:
        hue = next((p for p in table.params if p != x), None) if hue_default else None
    elif hue == x:
        raise BadInput("--hue must differ from --x")
    else:
        table.check_column(hue, "--hue")
    axes = Axes(x, y, hue, logx, logy)
    if not series(table.rows, axes)[0]:
        raise BadInput(f"nothing to plot: no run has both {x} and {y}")
    return axes


def _order(values: Sequence[Any]) -> list[Any]:
    """Distinct values, numerically sorted when they all parse as numbers, else as text."""
    distinct = list(dict.fromkeys(values))
    numbers = [n for n in map(as_number, distinct) if n is not None]
    if len(numbers) == len(distinct):
        return [v for _, v in sorted(zip(numbers, distinct, strict=True), key=lambda p: p[0])]
    return sorted(distinct, key=str)


@dataclass(frozen=True)
class Series:
    """One line: its label and, per x position, every y of the runs there."""

    label: str
    points: list[tuple[Any, list[float]]]


def _y(row: dict[str, Any], axes: Axes) -> float | None:
    value = as_number(row.get(axes.y))
    return None if missing(value) else value


def series(rows: Sequence[dict[str, Any]], axes: Axes) -> tuple[list[Any], list[Series]]:
    """(the x values in axis order, one Series per hue value); runs missing x or y skipped."""
    usable = [r for r in rows if not missing(r.get(axes.x)) and _y(r, axes) is not None]
    xs = _order([r[axes.x] for r in usable])
    hues = _order([r.get(axes.hue) for r in usable]) if axes.hue else [None]
    lines = []
    for hue in hues:
        mine = [r for r in usable if axes.hue is None or r.get(axes.hue) == hue]
        points = []
        for x in xs:
            ys = [y for r in mine if r[axes.x] == x and (y := _y(r, axes)) is not None]
            if ys:
                points.append((x, ys))
        label = axes.y if axes.hue is None else f"{axes.hue}={'' if hue is None else hue}"
        lines.append(Series(label, points))
    return xs, lines


def draw(table: Comparison, axes: Axes, path: Path) -> int:
    """Draw the plot into `path` (PNG); return the number of runs drawn.

    Runs sharing an x and a hue value (seeds, say) are each a dot; the line joins means.
    A numeric x axis is to scale; any other is categorical, in sorted order.
    """
    require_matplotlib()
    # Imported by name: matplotlib is optional, so type checks must not need it.
    Figure = importlib.import_module("matplotlib.figure").Figure

    xs, lines = series(table.rows, axes)
    if not xs:
        raise BadInput(f"nothing to plot: no run has both {axes.x} and {axes.y}")
    numbers = [n for n in map(as_number, xs) if n is not None]
    numeric = len(numbers) == len(xs)
    where = dict(zip(xs, numbers if numeric else map(float, range(len(xs))), strict=True))
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    drawn = 0
    for line in lines:
        pos = [where[x] for x, _ in line.points]
        means = [sum(ys) / len(ys) for _, ys in line.points]
        (handle,) = ax.plot(pos, means, marker="o", label=line.label)
        dots = [(where[x], y) for x, ys in line.points for y in ys if len(ys) > 1]
        if dots:
            ax.scatter(
                [d[0] for d in dots],
                [d[1] for d in dots],
                s=12,
                alpha=0.5,
                color=handle.get_color(),
            )
        drawn += sum(len(ys) for _, ys in line.points)
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    elif axes.logx:
        ax.set_xscale("log")
        ax.set_xticks(numbers, [str(x) for x in xs])
        ax.minorticks_off()
    if axes.logy:
        ax.set_yscale("log")
    ax.set_xlabel(axes.x)
    ax.set_ylabel(axes.y)
    title = str(table.sweep.get("id"))
    if any(len(ys) > 1 for line in lines for _, ys in line.points):
        title += "\nlines: mean of the runs at each point; dots: single runs"
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    if axes.hue is not None:
        ax.legend(title=None, fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    jobfiles.atomic_write_bytes(path, buffer.getvalue())
    return drawn
