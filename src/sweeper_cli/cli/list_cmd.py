"""`thesis-sweep list`: every sweep under the output root, newest first."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, output_root_for, sweep_ref
from sweeper_cli.cli.console import print_json, stdout
from sweeper_cli.cli.render import JSON_SCHEMA_VERSION
from sweeper_cli.errors import SweepError
from sweeper_cli.state.status import observe
from sweeper_cli.state.views import SweepView
from sweeper_cli.states import State
from sweeper_cli.store import layout, sweep_dirs


def causes(view: SweepView) -> dict[str, int]:
    """How many jobs ended or wait for each cause (failed, lost, held, ...)."""
    found: dict[str, int] = {}
    for job in view.jobs:
        if job.cause is not None and job.state is not State.SUCCEEDED:
            found[job.cause.value] = found.get(job.cause.value, 0) + 1
    return dict(sorted(found.items()))


def _search(view: SweepView) -> dict[str, Any]:
    assert view.search is not None
    counts = view.search.counts()
    told = counts["complete"] + counts["failed"]
    return {"state": view.search.state, "n_trials": view.search.n_trials, "told": told}


def list_sweeps(output_root: str = OUTPUT_ROOT, as_json: bool = JSON) -> int:
    """List the sweeps under the output root with their counts per state."""
    rows: list[dict[str, Any]] = []
    for sweep_dir in sweep_dirs.list_sweeps(output_root_for(output_root), complete_only=False):
        if not (sweep_dir / layout.INDEX_FILE).exists():
            if sweep_dirs.is_complete(sweep_dir):
                why = f"a Hydra multirun folder (thesis-sweep adopt {sweep_dir} takes it in)"
            else:
                why = (
                    "incomplete: its creation was interrupted before runs_index.json was "
                    f"written (thesis-sweep remove {sweep_ref(sweep_dir)} deletes it)"
                )
            rows.append({"id": sweep_dir.name, "dir": str(sweep_dir), "error": why})
            continue
        try:
            view = observe(sweep_dir)
        except (SweepError, OSError) as exc:
            rows.append({"id": sweep_dir.name, "dir": str(sweep_dir), "error": str(exc)})
            continue
        sweep = view.header
        rows.append(
            {
                "id": sweep_dir.name,
                "name": sweep.name,
                "created": sweep.created,
                "backend": sweep.backend,
                "jobs": len(view.jobs),
                "counts": view.counts(),
                "causes": causes(view),
                "complete": sweep_dirs.is_complete(sweep_dir),
                "search": None if view.search is None else _search(view),
                "dir": str(sweep_dir),
            }
        )
    if as_json:
        print_json({"schema_version": JSON_SCHEMA_VERSION, "sweeps": rows})
        return 0
    table = Table(title=f"{len(rows)} sweep(s)", title_justify="left")
    for column in ("sweep", "created", "backend", "jobs", "states"):
        table.add_column(column)
    for row in rows:
        if "error" in row:
            table.add_row(row["id"], "-", "-", "-", row["error"])
            continue
        states = ", ".join(f"{n} {s}" for s, n in row["counts"].items() if n)
        if row["causes"]:
            why = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in row["causes"].items())
            states += f" ({why})"
        if row["search"]:
            found = row["search"]
            states += f"; search {found['state']}, {found['told']} of {found['n_trials']} told"
        if not row["complete"]:
            states += " (creation interrupted: resume completes it, remove deletes it)"
        table.add_row(row["id"], row["created"] or "-", row["backend"], str(row["jobs"]), states)
    stdout().print(table)
    return 0
