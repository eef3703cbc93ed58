"""`thesis-sweep campaign run|status|cancel FILE`: many sweeps from a queue file, one per
line, under one cap. `run` is in `campaign_run`; status and cancel never import Hydra."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sweeper_cli.cli import campaign_run
from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, output_root_for
from sweeper_cli.cli.console import print_json, stderr, stdout
from sweeper_cli.cli.escape import printable
from sweeper_cli.cli.handler import command
from sweeper_cli.errors import EXIT_OK

if TYPE_CHECKING:
    from rich.table import Table

    from sweeper_cli.campaign.view import LineView
    from sweeper_cli.store.campaigns import Record

FILE = typer.Argument(..., help="The queue file: one sweep per line (its overrides).")
STATE_STYLE = {"COMPLETE": "green", "INCOMPLETE": "yellow", "NOT STARTED": "dim"}

app = typer.Typer(
    help="Many sweeps from a queue file (one per line) under one cap on running jobs, "
    "with each line's completeness.",
    no_args_is_help=True,
)
app.command("run", context_settings=campaign_run.CONTEXT)(command(campaign_run.run))


def load(file: str, output_root: str | None) -> tuple[Any, Record]:
    """The queue file's lines, with the shared overrides of the campaign's newest run, and
    the campaign's record."""
    from sweeper_cli.campaign.queue import read_queue
    from sweeper_cli.store import campaigns

    path = Path(file).expanduser().resolve()
    name = campaigns.campaign_name(path)
    folder = campaigns.campaign_dir(output_root_for(output_root).resolve(), name)
    record = campaigns.read_record(folder, name, path)
    return read_queue(path, record.shared), record


def table(record: Record, rows: Sequence[LineView]) -> Table:
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=None)
    for name, justify in (
        ("line", "right"),
        ("experiment", "left"),
        ("sweep", "left"),
        ("succeeded", "right"),
        ("failed", "right"),
        ("running", "right"),
        ("queued", "right"),
        ("state", "left"),
    ):
        # An experiment's overrides wrap; a sweep's folder name stays whole (for grep).
        fold = "fold" if name == "experiment" else "ellipsis"
        whole = name in ("sweep", "state")
        grid.add_column(name, justify=justify, overflow=fold, no_wrap=whole)  # type: ignore[arg-type]
    for row in rows:
        doc = row.as_json()
        sweep = Path(doc["sweep"]).name if doc["sweep"] else "-"
        state = Text(row.state, style=STATE_STYLE.get(row.state, ""))
        grid.add_row(
            str(doc["line"]),
            printable(_experiment(row.line.text)),
            printable(sweep),
            f"{doc['succeeded']}/{doc['jobs']}" if doc["sweep"] else "-",
            str(doc["failed"]),
            str(doc["running"]),
            str(doc["queued"]),
            state,
        )
    return grid


def _experiment(text: str) -> str:
    """A line's overrides without its --name (the sweep column shows the name)."""
    import shlex

    keep: list[str] = []
    words = iter(shlex.split(text))
    for word in words:
        if word == "--name":
            next(words, None)
        elif not word.startswith("--name="):
            keep.append(word)
    return shlex.join(keep)


def summary(rows: Sequence[LineView]) -> str:
    from collections import Counter

    found = Counter(row.state for row in rows)
    return ", ".join(f"{found[s]} {s.lower()}" for s in STATE_STYLE if found[s])


def status(
    file: str = FILE,
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
) -> int:
    """One row per line of the queue file: its sweep, jobs succeeded/total, failed (failed,
    cancelled or lost), running, queued, and COMPLETE / INCOMPLETE / NOT STARTED. Exit 0
    all complete, 1 a job failed, was cancelled or lost, 4 jobs still queued or running (or
    lines not started).
    """
    from sweeper_cli.campaign import view
    from sweeper_cli.state import status as core

    lines, record = load(file, output_root)
    rows = view.observe_lines(lines, record)
    for row in rows:
        if row.sweep is not None:
            core.refresh_index(row.sweep)
    code = view.exit_code(rows)
    if as_json:
        print_json(
            {
                "schema_version": 1,
                "campaign": {
                    "name": record.name,
                    "file": record.file,
                    "record": str(record.folder / "campaign.json"),
                    "shared_overrides": list(record.shared),
                },
                "lines": [row.as_json() for row in rows],
                "exit_code": code,
            }
        )
        return code
    out = stdout()
    heading = f"campaign {record.name}  ({record.file}, {len(rows)} lines)"
    out.print(heading, highlight=False, markup=False, soft_wrap=True)
    out.print(table(record, rows))
    out.print(summary(rows), highlight=False, markup=False)
    return code


def cancel(
    file: str = FILE,
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
) -> int:
    """Stop every queued and running job of the campaign's sweeps and mark them cancelled
    (idempotent); `campaign run FILE` relaunches them later."""
    from sweeper_cli.campaign import view
    from sweeper_cli.campaign.launch import scheduler_ids
    from sweeper_cli.errors import SweepError
    from sweeper_cli.launch.backends.registry import get_backend
    from sweeper_cli.state import lifecycle

    lines, record = load(file, output_root)
    rows = view.observe_lines(lines, record)
    busy = [row.sweep_dir for row in rows if row.active and row.sweep_dir is not None]
    busy += view.active_elsewhere(record, lines)
    err = stderr()
    # No campaign lock: a local campaign holds it while its jobs run, and cancelling is
    # safe beside anything (requests first, then one stop per sweep, as `cancel` does).
    with ThreadPoolExecutor(max_workers=8) as pool:  # each waits for its jobs to end
        done = list(pool.map(lambda d: lifecycle.cancel(d, None), busy))
    for backend, ids in scheduler_ids(record).items():  # what never materialized, too
        try:
            get_backend(backend).cancel(record.folder, [_ref(sid) for sid in ids])
        except SweepError as exc:
            err.print(f"warning: {exc}", style="yellow", highlight=False)
    stopped = sum(len(asked) for asked, _ in done)
    err.print(
        f"campaign {record.name}: cancelled {stopped} job(s) in {len(busy)} sweep(s)"
        if stopped
        else f"campaign {record.name}: nothing to cancel",
        highlight=False,
    )
    if as_json:
        rows = view.observe_lines(lines, record)
        print_json({"schema_version": 1, "lines": [row.as_json() for row in rows]})
    return EXIT_OK


def _ref(scheduler_id: str) -> Any:
    from sweeper_cli.launch.backends.base import JobRef

    return JobRef(-1, Path("."), scheduler_id)


app.command("status")(command(status))
app.command("cancel")(command(cancel))
