"""`thesis-sweep cancel`: stop queued and running jobs of a sweep."""

from __future__ import annotations

import typer

from sweeper_cli import status
from sweeper_cli.cli.common import JSON, OUTPUT_ROOT, SWEEP_ARG, locate
from sweeper_cli.cli.console import print_json, stderr
from sweeper_cli.errors import EXIT_OK
from sweeper_cli.render import status_json


def cancel(
    sweep: str = SWEEP_ARG,
    jobs: list[str] = typer.Argument(None, help="Job numbers (default: all), e.g. 3 5 7-9."),
    output_root: str = OUTPUT_ROOT,
    as_json: bool = JSON,
) -> int:
    """Stop queued and running jobs and mark them cancelled (idempotent).

    SWEEP is a sweep folder, its name or a unique part of it (default: the newest).
    JOBS are job numbers or ranges (3 5 7-9); default: all.
    """
    from sweeper_cli import lifecycle

    sweep_dir = locate(sweep, output_root)
    nums = lifecycle.parse_job_list(",".join(jobs)) if jobs else None
    before = {job.num: job.state for job in status.observe(sweep_dir).jobs}
    view = lifecycle.cancel(sweep_dir, nums)
    status.refresh_index(view)
    stopped = [
        j.num
        for j in view.jobs
        if j.state.value == "cancelled" and before.get(j.num) and not before[j.num].is_terminal()
    ]
    message = f"cancelled job(s) {', '.join(map(str, stopped))}" if stopped else "nothing to cancel"
    stderr().print(f"{sweep_dir.name}: {message}", highlight=False)
    if as_json:
        print_json(status_json(view))
    return EXIT_OK
