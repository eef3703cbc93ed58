"""Human tables (rich) and JSON envelopes for scripts. Pure: build, never print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeper_cli.cli.escape import printable
from sweeper_cli.state.views import JobView, SearchView, SweepView
from sweeper_cli.states import State

if TYPE_CHECKING:  # rich is imported only where a table is drawn (not for --json)
    from rich.table import Table

JSON_SCHEMA_VERSION = 1
STATE_STYLE = {
    State.QUEUED: "dim",
    State.RUNNING: "cyan",
    State.SUCCEEDED: "green",
    State.FAILED: "red",
    State.CANCELLED: "yellow",
    State.LOST: "magenta",
}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def plan_json(
    name: str,
    sweep_dir: Path,
    jobs: Sequence[tuple[int, Sequence[str], Path]],
    swept: Sequence[str],
) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "name": name,
        "sweep_dir": str(sweep_dir),
        "swept_keys": list(swept),
        "jobs": [
            {"num": num, "overrides": list(overrides), "run_dir": str(run_dir)}
            for num, overrides, run_dir in jobs
        ],
    }


def plural(count: int, word: str) -> str:
    """`1 job`, `2 jobs`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def plan_heading(doc: dict[str, Any]) -> str:
    """The line above the plan table (a line of its own: a path must not wrap mid-word)."""
    return f"{plural(len(doc['jobs']), 'job')} -> {doc['sweep_dir']}"


def plan_table(doc: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table()
    table.add_column("#", justify="right")
    table.add_column("overrides")
    table.add_column("run dir")
    for job in doc["jobs"]:
        overrides = printable(" ".join(job["overrides"]))
        table.add_row(str(job["num"]), overrides, printable(Path(job["run_dir"]).name))
    return table


def _swept_only(job: JobView, swept: Sequence[str]) -> str:
    keys = set(swept)
    shown = [o for o in job.overrides if o.split("=", 1)[0] in keys] if keys else []
    return printable(" ".join(shown or job.overrides))


def _exit_text(job: JobView) -> str:
    if job.signal:
        return job.signal
    return "-" if job.exit_code is None else str(job.exit_code)


def status_json(view: SweepView) -> dict[str, Any]:
    root = view.output_root
    sweep = view.header
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "sweep": {
            "id": sweep.id,
            "name": sweep.name,
            "dir": str(view.sweep_dir),
            "created": sweep.created,
            "backend": sweep.backend,
            "output_root": str(root),
            "counts": view.counts(),
        },
        "search": None if view.search is None else view.search.as_json(),
        "jobs": [job.as_json() for job in view.jobs],
    }


def search_line(search: SearchView) -> str:
    """One line on where a search stands: its state, trials told, the best so far."""
    told = search.counts()
    parts = [f"search {search.state}"]
    if search.reason:
        parts[0] += f" ({printable(search.reason)})"
    done = told["complete"] + told["failed"]
    parts.append(f"{done} of {search.n_trials or '?'} trials told ({told['failed']} failed)")
    best = [search.trials[j] for j in search.best if j in search.trials]
    if best and best[0].values is not None:
        names = ", ".join(search.objectives)
        shown = "; ".join(f"{_values(t.values)} (job {t.job})" for t in best[:3])
        more = f" and {len(best) - 3} more" if len(best) > 3 else ""
        parts.append(f"best {names} = {shown}{more}")
    return "; ".join(parts)


def _values(values: Sequence[float] | None) -> str:
    if values is None:
        return "-"
    return ", ".join(f"{v:.6g}" for v in values)


def status_table(view: SweepView, last_lines: dict[int, str]) -> Table:
    from rich.table import Table
    from rich.text import Text

    sweep = view.header
    counts = ", ".join(f"{n} {s}" for s, n in view.counts().items() if n)
    search = view.search
    if search is not None:
        counts = f"{counts}\n{search_line(search)}" if counts else search_line(search)
    table = Table(
        title=f"{sweep.id}  ({sweep.backend}, created {sweep.created})",
        caption=counts,
        title_justify="left",
        caption_justify="left",
    )
    with_gpus = any(job.gpus for job in view.jobs)
    columns = [("#", "right"), ("overrides", "left"), ("state", "left"), ("exit", "right")]
    columns += [("time", "right"), ("host", "left")]
    columns += [("gpus", "left")] if with_gpus else []
    if search is not None:
        columns += [(", ".join(search.objectives) or "value", "right")]
    for column, justify in [*columns, ("run dir", "left")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    swept = sweep.swept_keys
    for job in view.jobs:
        state = Text(job.state.value, style=STATE_STYLE[job.state])
        note = last_lines.get(job.num) or job.reason
        name = printable(job.run_dir.name) if job.run_dir is not None else "-"
        run_dir = name + (f"\n{printable(note)}" if note else "")
        cells: list[str | Text] = [str(job.num), _swept_only(job, swept), state, _exit_text(job)]
        cells += [fmt_duration(job.duration()), printable(job.host or "-")]
        cells += [printable(job.gpus or "-")] if with_gpus else []
        if search is not None:
            trial = search.trials.get(job.num)
            mark = " *" if job.num in search.best else ""
            cells += [(_values(trial.values) if trial else "-") + mark]
        table.add_row(*cells, run_dir)
    return table
