"""`thesis-sweep campaign run FILE`: every line of the queue file becomes an ordinary
sweep, planned and created by `run`'s own code (`run.plan`, `run.create`), and all their
jobs are launched at once under one cap.

Again with the same FILE: a line whose sweep is complete is skipped, one whose sweep did
not finish gets its unfinished jobs relaunched (as `resume` does), a new line is started.
Nothing is launched while jobs of the campaign are still queued or running (exit 4): the
cap holds per launch, so a second launch beside a live one could exceed it. Every line is
planned and validated before anything is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from sweeper_cli.cli import run as run_cmd
from sweeper_cli.cli.common import GPUS, GPUS_PER_JOB, JOBS_PER_GPU, JSON, PACK, SUCCESS, WARM
from sweeper_cli.cli.console import print_json, stderr
from sweeper_cli.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, BadInput, Terminated
from sweeper_cli.states import State

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}
NEW, SKIP, RESUME, ACTIVE = "new", "complete, skipped", "resume", "still running"


@dataclass
class Step:
    """What this run does with one line."""

    line: Any  # campaign.queue.Line
    action: str
    row: Any  # campaign.view.LineView
    planned: Any = None  # run.Planned of a new line
    relaunch: Any = None  # campaign.relaunch.Relaunch of an unfinished one
    sweep_dir: Path | None = None
    refs: list[Any] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)

    def jobs(self) -> int:
        if self.planned is not None:
            return len(self.planned.prepared.plan.jobs)
        return len(self.relaunch.jobs) if self.relaunch is not None else 0


def run(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="The queue file: one sweep per line (its overrides)."),
    overrides: list[str] = typer.Argument(
        None, help="Overrides added to every line.", show_default=False
    ),
    max_running: int = typer.Option(
        None,
        "--max-running",
        min=1,
        help="At most N jobs queued or running across all the sweeps (locally: N slots; "
        "clusters: the scheduler's own throttle on one submission). Default: -j's setting "
        "locally, the profile's max_parallel on clusters.",
    ),
    pack: int = PACK,
    name: str = typer.Option(None, "--name", help="Sweep name of lines without --name."),
    config_name: str = typer.Option(None, "-cn", "--config-name", help="Primary config name."),
    config_dir: str = typer.Option(None, "-cd", "--config-dir", help="Config directory."),
    module: str = typer.Option(None, "--module", help="App module run as python -m MODULE."),
    script: str = typer.Option(None, "--script", help="App script run as python SCRIPT."),
    command: str = typer.Option(None, "--command", help="Any app command line instead."),
    backend: str = typer.Option(None, "--backend", help="local, slurm or htcondor."),
    profile: str = typer.Option(None, "--profile", help="A profile for every line."),
    max_jobs: int = typer.Option(None, "--max-jobs", min=1, help="Refuse bigger sweeps."),
    gpus: str = GPUS,
    gpus_per_job: int = GPUS_PER_JOB,
    jobs_per_gpu: int = JOBS_PER_GPU,
    output_root: str = typer.Option(None, "--output-root", help="Root of runs/ and multiruns/."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what each line would do."),
    warm: str = WARM,
    no_validate: bool = typer.Option(False, "--no-validate", help="Skip composing every job."),
    success: str = SUCCESS,
    as_json: bool = JSON,
) -> int:
    """Run every line of FILE as a sweep, at most --max-running jobs at once; again: skip
    complete lines, relaunch the unfinished jobs of the others, start new lines."""
    from sweeper_cli.campaign import view
    from sweeper_cli.campaign.queue import read_queue
    from sweeper_cli.cli.common import output_root_for
    from sweeper_cli.store import campaigns

    shared = [*(overrides or []), *ctx.args]
    stray = [word for word in shared if word.startswith("-")]
    if stray:
        raise BadInput(f"unknown option {stray[0]!r} for campaign run (see --help)")
    path = Path(file).expanduser().resolve()
    lines = read_queue(path, shared)
    root = output_root_for(output_root).resolve()
    cname = campaigns.campaign_name(path)
    record = campaigns.read_record(campaigns.campaign_dir(root, cname), cname, path)
    rows = view.observe_lines(lines, record)
    elsewhere = view.active_elsewhere(record, lines)
    busy = sum(row.count(State.QUEUED, State.RUNNING) for row in rows)
    err = stderr()
    if (busy or elsewhere or any(row.active for row in rows)) and not dry_run:
        err.print(
            f"campaign {cname}: {busy} job(s) still queued or running: nothing launched (the "
            "cap holds per launch). Run it again once they ended (campaign status exits 4 "
            "until then), or campaign cancel it first.",
            highlight=False,
        )
        return 4
    flags: dict[str, Any] = {
        "config_name": config_name,
        "config_dir": config_dir,
        "module": module,
        "script": script,
        "command": command,
        "output_root": output_root,
        "profile": profile,
        "max_jobs": max_jobs,
        "warm": warm,
        "validate": False if no_validate else None,
        "success": success,
    }
    options = run_cmd.LaunchOptions(
        backend, max_running, max_running, gpus, gpus_per_job, jobs_per_gpu, False, pack
    )
    steps = [_step(line, row, flags, name, options) for line, row in zip(lines, rows, strict=True)]
    notes = {note for s in steps if s.planned is not None for note in s.planned.notes}
    for text, style in sorted(notes):
        err.print(text, style=style, highlight=False, markup=False)
    first = next((s.planned for s in steps if s.planned is not None), None)
    if first is not None:  # the site's rules, for what one scheduler job asks
        from sweeper_cli.cli import preview
        from sweeper_cli.launch.backends.packs import pack_profile

        preview.warn(pack_profile(first.profile, pack or 1), err)
    backend_name = _one_backend(steps, backend)
    if backend_name == "local" and pack:
        raise BadInput("--pack is for cluster backends (locally, --max-running sets the slots)")
    if dry_run:
        return _show(steps, as_json)
    record.shared = tuple(shared)
    with campaigns.campaign_lock(record.folder):
        again = campaigns.read_record(record.folder, cname, path)
        if again.as_json()["lines"] != record.as_json()["lines"]:
            raise BadInput(f"the campaign {cname} changed while this run planned it: run again")
        return _launch(steps, record, backend_name, options, as_json)


def _step(line: Any, row: Any, flags: dict[str, Any], name: str | None, options: Any) -> Step:
    """Decide and check what to do with one line: plan a new sweep (validating every job),
    skip a complete one, or check that an unfinished one can be relaunched."""
    from sweeper_cli.campaign import relaunch, view

    if row.problem:
        raise BadInput(
            f"line {line.number}: its sweep {row.sweep_dir} cannot be read: {row.problem}"
        )
    if row.state == view.COMPLETE:
        return Step(line, SKIP, row)
    if row.active:
        return Step(line, ACTIVE, row)
    try:
        if row.state == view.INCOMPLETE:
            return Step(line, RESUME, row, relaunch=relaunch.check(row.sweep))
        planned = run_cmd.plan({**flags, "name": line.name or name}, list(line.overrides), options)
    except BadInput as exc:
        raise BadInput(f"line {line.number} ({line.text}): {exc}") from None
    if planned.prepared.plan.search is not None:
        raise BadInput(f"line {line.number}: a search (Hydra's Optuna sweeper) is not a grid")
    return Step(line, NEW, row, planned=planned)


def _one_backend(steps: Sequence[Step], flag: str | None) -> str:
    """Every line runs where the others do, with the same resources: one launch, one cap."""
    found: dict[str, int] = {}
    profiles: dict[str, int] = {}
    for step in steps:
        if step.planned is not None:
            found.setdefault(step.planned.runner.name, step.line.number)
            profiles.setdefault(repr(step.planned.profile.as_json()), step.line.number)
        elif step.row.sweep is not None:
            found.setdefault(step.row.sweep.header.backend, step.line.number)
    if len(found) > 1:
        where = ", ".join(f"line {n} on {b}" for b, n in found.items())
        raise BadInput(f"the lines run on different backends ({where}): give --backend/--profile")
    if len(profiles) > 1 and next(iter(found), "local") != "local":
        numbers = ", ".join(map(str, profiles.values()))
        raise BadInput(
            f"lines {numbers} choose different profiles: one submission asks for one set of "
            "resources (give --profile, or run those lines as a campaign of their own)"
        )
    return next(iter(found), flag or "local")


def _show(steps: Sequence[Step], as_json: bool) -> int:
    doc = [
        {
            "line": s.line.number,
            "text": s.line.text,
            "action": s.action,
            "jobs": s.jobs(),
            "sweep": str(s.row.sweep_dir or (s.planned.prepared.sweep_dir if s.planned else "")),
        }
        for s in steps
    ]
    if as_json:
        print_json({"schema_version": 1, "lines": doc})
        return EXIT_OK
    err = stderr()
    for item in doc:
        what = f"{item['action']} ({item['jobs']} job(s))" if item["jobs"] else item["action"]
        err.print(f"line {item['line']}: {what}: {item['text']}", highlight=False)
    return EXIT_OK


def _launch(
    steps: Sequence[Step], record: Any, backend_name: str, options: Any, as_json: bool
) -> int:
    """Create the new sweeps (each recorded at once), requeue the unfinished ones, then
    launch every job together; the sweeps' launch locks are held throughout."""
    from sweeper_cli.campaign import relaunch as relaunching
    from sweeper_cli.state import status
    from sweeper_cli.store import campaigns, locks

    err = stderr()
    runner = _runner(steps, backend_name, options)
    with contextlib.ExitStack() as held:
        for step in steps:
            if step.action == NEW:
                step.sweep_dir, step.refs, step.labels = run_cmd.create(step.planned)
                record.add_line(step.line.digest, step.line.number, step.line.text, step.sweep_dir)
                campaigns.write_record(record)
                held.enter_context(locks.launch_lock(step.sweep_dir))
                err.print(
                    f"line {step.line.number}: new sweep {step.sweep_dir.name} "
                    f"({len(step.refs)} jobs)",
                    highlight=False,
                )
            elif step.action == RESUME:
                step.sweep_dir = step.row.sweep_dir
                held.enter_context(locks.launch_lock(step.sweep_dir))
                fresh = status.observe(step.sweep_dir)
                step.relaunch = relaunching.check(fresh)
                relaunching.prepare(fresh, step.relaunch, runner)
                step.refs = step.relaunch.refs
                step.labels = {j.num: " ".join(j.overrides) for j in step.relaunch.jobs}
                for note in step.relaunch.notes:
                    err.print(f"line {step.line.number}: {note}", highlight=False)
                nums = ", ".join(str(r.num) for r in step.refs)
                err.print(
                    f"line {step.line.number}: resuming {step.sweep_dir.name}: job(s) {nums}",
                    highlight=False,
                )
            else:
                known = f" ({step.row.sweep_dir.name})" if step.row.sweep_dir else ""
                err.print(f"line {step.line.number}{known}: {step.action}", highlight=False)
        for step in steps:  # the line numbers and texts as the file has them now
            if step.sweep_dir is not None and step.action != NEW:
                record.add_line(step.line.digest, step.line.number, step.line.text, step.sweep_dir)
        campaigns.write_record(record)
        going = [s for s in steps if s.refs]
        if not going:
            err.print(f"campaign {record.name}: nothing to launch", highlight=False)
            return _finish(steps, record, as_json, EXIT_OK)
        if backend_name == "local":
            return _run_locally(going, steps, record, runner, as_json)
        return _submit(going, steps, record, runner, options, as_json)


def _runner(steps: Sequence[Step], backend_name: str, options: Any) -> Any:
    """The backend the campaign launches with: a new line's (as `run` made it), else one
    for the unfinished sweeps' recorded profile and interpreter."""
    from sweeper_cli.cli.launching import local_parallel, local_pool
    from sweeper_cli.launch.backends.registry import get_backend
    from sweeper_cli.project.profiles import Profile
    from sweeper_cli.project.settings import resolve
    from sweeper_cli.state.status import observe_run

    for step in steps:
        if step.planned is not None:
            return step.planned.runner
    header = next(s.row.sweep.header for s in steps if s.row.sweep is not None)
    recorded = header.raw.get("profile")
    profile = Profile.from_json(recorded if isinstance(recorded, dict) else None, backend_name)
    settings = resolve({"warm": None})
    pool = local_pool(settings, profile, options.gpus, options.gpus_per_job, options.jobs_per_gpu)
    return get_backend(
        backend_name,
        profile,
        max_parallel=local_parallel(settings, options.jobs, pool)
        if backend_name == "local"
        else options.max_parallel,
        gpu_pool=pool,
        warm=settings["warm"],
        python=header.text("python"),
        observe=observe_run,
    )


def _run_locally(
    going: Sequence[Step], steps: Sequence[Step], record: Any, runner: Any, as_json: bool
) -> int:
    from sweeper_cli.campaign import launch
    from sweeper_cli.cli.progress import Reporter
    from sweeper_cli.launch.backends.packs import SweepJobs

    who = {
        ref.run_dir: (f"line {s.line.number} job {ref.num}", s.labels.get(ref.num, ""))
        for s in going
        for ref in s.refs
    }
    total = sum(len(s.refs) for s in going)
    stderr().print(
        f"campaign {record.name}: {total} job(s) of {len(going)} line(s), at most "
        f"{runner.max_parallel} at once",
        highlight=False,
    )
    stopped: KeyboardInterrupt | None = None
    with Reporter(total, {}, stderr(), jobs=who) as reporter:
        try:
            launch.run_locally(runner, [SweepJobs(_folder(s), s.refs) for s in going], reporter)
        except KeyboardInterrupt as exc:
            stopped = exc
    code = _finish(steps, record, as_json, None)
    if stopped is not None:
        return EXIT_TERMINATED if isinstance(stopped, Terminated) else EXIT_INTERRUPTED
    return code


def _submit(
    going: Sequence[Step],
    steps: Sequence[Step],
    record: Any,
    runner: Any,
    options: Any,
    as_json: bool,
) -> int:
    from sweeper_cli.campaign import launch
    from sweeper_cli.launch.backends.packs import SweepJobs

    cap = options.max_parallel or runner.max_parallel
    groups = [SweepJobs(_folder(s), s.refs) for s in going]
    numbers = [s.line.number for s in going]
    submission = launch.submit(runner, record, groups, numbers, options.pack or 1, cap)
    total = sum(len(s.refs) for s in going)
    tasks = len(set(submission.job_ids.values()))
    held = f", at most {cap} at once" if cap else ""
    packed = f" in {tasks} packs of up to {options.pack}" if (options.pack or 1) > 1 else ""
    stderr().print(
        f"campaign {record.name}: submitted {total} job(s) of {len(going)} line(s){packed} to "
        f"{runner.name} as {submission.scheduler_id}{held} (files in "
        f"{record.folder / 'submit'}); follow with: thesis-sweep campaign status "
        f"{_shown(Path(record.file))}",
        highlight=False,
    )
    return _finish(steps, record, as_json, EXIT_OK)


def _shown(path: Path) -> str:
    """The queue file as the user may paste it: relative to here when inside it."""
    import shlex

    try:
        return shlex.quote(str(path.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(path))


def _folder(step: Step) -> Path:
    assert step.sweep_dir is not None
    return step.sweep_dir


def _finish(steps: Sequence[Step], record: Any, as_json: bool, code: int | None) -> int:
    """Print the campaign's JSON status when asked; the code, else the campaign's own."""
    from sweeper_cli.campaign import view

    rows = view.observe_lines([s.line for s in steps], record)
    if as_json:
        print_json({"schema_version": 1, "lines": [row.as_json() for row in rows]})
    if code is not None:
        return code
    done = view.exit_code(rows)
    return EXIT_OK if done == 0 else 1
