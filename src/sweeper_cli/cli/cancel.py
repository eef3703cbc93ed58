"""`thesis-sweep cancel`: stop queued and running jobs of a sweep."""

from __future__ import annotations

import typer

from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, SWEEP_ARG, locate
from sweeper_cli.cli.console import print_json, stderr
from sweeper_cli.cli.render import search_line, status_json
from sweeper_cli.errors import EXIT_OK
from sweeper_cli.states import State
from sweeper_cli.store import runs_index


def cancel(
    sweep: str = SWEEP_ARG,
    jobs: list[str] = typer.Argument(None, help="Job numbers (default: all), e.g. 3 5 7-9."),
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
) -> int:
    """Stop queued and running jobs and mark them cancelled (idempotent). A search: stop
    its controller too (no more trials; `resume` continues it).

    SWEEP is a sweep folder, its name or a unique part of it (default: the newest).
    JOBS are job numbers or ranges (3 5 7-9); default: all.
    """
    from sweeper_cli.state import lifecycle, status

    sweep_dir = locate(sweep, output_root)
    nums = lifecycle.parse_job_list(",".join(jobs)) if jobs else None
    err = stderr()
    if nums is None and "search" in runs_index.read_index(sweep_dir).header.raw:
        view = lifecycle.stop_search(sweep_dir, "cancelled by the user")
        status.refresh_index(view)
        assert view.search is not None
        err.print(f"{sweep_dir.name}: {search_line(view.search)}", highlight=False)
        err.print("`thesis-sweep resume` continues the search", highlight=False)
        if as_json:
            print_json(status_json(view))
        return EXIT_OK
    asked, view = lifecycle.cancel(sweep_dir, nums)
    status.refresh_index(view)
    by_num = {job.num: job for job in view.jobs}
    stopped = [n for n in asked if by_num[n].state is State.CANCELLED]
    message = f"cancelled job(s) {', '.join(map(str, stopped))}" if stopped else "nothing to cancel"
    err.print(f"{sweep_dir.name}: {message}", highlight=False)
    for num in asked:
        job = by_num[num]
        if job.state is not State.CANCELLED:
            why = f" ({job.reason})" if job.reason else ""
            err.print(f"job {num}: {job.state.value}{why}", highlight=False)
    if as_json:
        print_json(status_json(view))
    return EXIT_OK
