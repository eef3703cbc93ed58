"""`thesis-sweep compare`: the swept parameters against the runs' results.

Reads files only (the index, status files, the runs' result files): no Hydra, no
scheduler, and it writes nothing but the --csv and --plot files asked for.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, SWEEP_ARG, locate
from sweeper_cli.cli.console import print_json, stderr, stdout
from sweeper_cli.cli.escape import printable
from sweeper_cli.errors import EXIT_OK, BadInput
from sweeper_cli.results import compare as core
from sweeper_cli.state.status import observe
from sweeper_cli.store import layout

if TYPE_CHECKING:
    from rich.table import Table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return printable(str(value))


def _table(table: core.Comparison) -> Table:
    from rich.table import Table
    from rich.text import Text

    from sweeper_cli.cli.render import STATE_STYLE, fmt_duration
    from sweeper_cli.states import State

    rows, total = len(table.rows), table.total
    shown = core.plural(total, "job") if rows == total else f"{rows} of {core.plural(total, 'job')}"
    out = Table(title=f"{table.sweep.get('id')}  ({shown})", title_justify="left")
    out.add_column("#", justify="right", no_wrap=True)
    for name in table.params:
        out.add_column(name)
    out.add_column("state", no_wrap=True, min_width=9)
    out.add_column("time", justify="right", no_wrap=True)
    for name in table.metrics:
        out.add_column(name, justify="right")
    for row in table.rows:
        state = State(row["state"])
        out.add_row(
            str(row["job"]),
            *(_cell(row[name]) for name in table.params),
            Text(state.value, style=STATE_STYLE[state]),
            fmt_duration(row["duration"]) if row["duration"] is not None else "",
            *(_cell(row[name]) for name in table.metrics),
        )
    return out


def compare(
    sweep: str = SWEEP_ARG,
    files: str = typer.Option(
        None,
        "--files",
        metavar="GLOB",
        help="Read only these files, relative to each run dir ('**' recurses): JSON, or YAML "
        "and CSV logs by extension. Default: metrics/results files, facts/*, Lightning's "
        "metrics.csv, TensorBoard events.",
    ),
    metric: list[str] = typer.Option(
        None,
        "--metric",
        metavar="NAME",
        help="Only these metrics (dotted names; a list element as name.-1). Repeatable.",
    ),
    all_columns: bool = typer.Option(
        False, "--all-columns", help="Also show metrics that are the same in every run."
    ),
    sort: str = typer.Option(
        None,
        "--sort",
        metavar="KEY",
        help="Order rows by this metric or swept key; -KEY or --desc for descending. "
        "Missing values go last.",
    ),
    desc: bool = typer.Option(False, "--desc", help="Sort descending."),
    top: int = typer.Option(None, "--top", min=1, metavar="N", help="Keep the first N rows."),
    csv_file: str = typer.Option(
        None, "--csv", metavar="FILE", help="Also write the rows as CSV to FILE ('-': stdout)."
    ),
    plot_file: Path = typer.Option(
        None,
        "--plot",
        metavar="FILE.png",
        help="Draw --y against --x as a PNG (needs matplotlib: the plot extra).",
    ),
    x: str = typer.Option(
        None,
        "--x",
        metavar="KEY",
        help="Plot x axis (default: first swept key).",
    ),
    y: str = typer.Option(
        None,
        "--y",
        metavar="METRIC",
        help="Plot y axis (default: first metric).",
    ),
    hue: str = typer.Option(
        None, "--hue", metavar="KEY", help="One line per value of KEY (default: next swept key)."
    ),
    logx: bool = typer.Option(False, "--logx", help="Plot: log-scaled x axis."),
    logy: bool = typer.Option(False, "--logy", help="Plot: log-scaled y axis."),
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
) -> int:
    """Compare a sweep's runs: one row per job, swept keys, state, time, then metrics.

    Metrics are the numbers in each run's result files (JSON and YAML files, Lightning's
    metrics.csv, TensorBoard events; or --files), with dotted names; lists are skipped
    unless picked with --metric name.INDEX; logged series give NAME (last) and NAME.best.
    Metrics equal in every run are hidden (--all-columns shows them). A search's rows are
    sorted by its objective, and --plot draws the objective over the trials.
    SWEEP is a sweep folder, its name or a unique part of it (default: the newest).
    """
    if as_json and csv_file == "-":
        raise BadInput("--json and --csv - both write to stdout: choose one")
    if plot_file is not None and plot_file.suffix.lower() != ".png":
        raise BadInput(f"--plot {plot_file}: the file name must end in .png")
    if (x or y or hue or logx or logy) and plot_file is None:
        raise BadInput("--x, --y, --hue, --logx and --logy go with --plot FILE.png")
    for target, flag in ((csv_file, "--csv"), (plot_file, "--plot")):
        if target is not None and target != "-" and not Path(target).parent.is_dir():
            raise BadInput(f"{flag} {target}: folder {Path(target).parent} does not exist")
    sweep_dir = locate(sweep, output_root)
    view = observe(sweep_dir, ask_scheduler=False)
    table = core.build(view, files, metric or (), all_columns)
    err = stderr()
    objective = core.objective(view, table)
    if not sort and objective is not None:
        sort, desc = objective
        way = "descending" if desc else "ascending"
        err.print(f"sorted by {sort} ({way}): the search's objective", highlight=False)
    core.select(table, sort, desc, top)
    axes = None
    if plot_file is not None:
        from sweeper_cli.results import plot

        if objective is not None:  # a search: the objective over the trials
            x, y = x or "job", y or objective[0]
        axes = plot.choose_axes(table, x, y, hue, logx, logy, hue_default=objective is None)
        plot.require_matplotlib()
    for note in table.notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    # Everything was checked: from here on, files are written.
    if csv_file == "-":
        sys.stdout.write(core.to_csv(table))
    elif csv_file is not None:
        layout.atomic_write_text(Path(csv_file), core.to_csv(table))
    if plot_file is not None and axes is not None:
        from sweeper_cli.results import plot

        drawn = plot.draw(table, axes, plot_file)
        hue_text = f" per {axes.hue}" if axes.hue else ""
        err.print(
            f"plot: {axes.y} against {axes.x}{hue_text} ({core.plural(drawn, 'run')}) "
            f"-> {plot_file}",
            highlight=False,
            markup=False,
        )
    if as_json:
        print_json(core.to_json(table))
    elif csv_file != "-":
        stdout().print(_table(table))
    return EXIT_OK
