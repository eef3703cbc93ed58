"""`thesis-sweep init`: find the project's Hydra app and write [tool.thesis-sweep]."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from sweeper_cli.cli.console import stderr, stdout
from sweeper_cli.cli.escape import printable_lines
from sweeper_cli.errors import EXIT_OK, BadInput
from sweeper_cli.project import discover
from sweeper_cli.project.settings import nearest_project


def _interpreter(root: Path) -> Path | None:
    """The project's own environment, when it has one that runs Hydra and is not the one
    thesis-sweep runs in (a .venv in the project, an active virtualenv or conda env)."""
    candidates = [root / ".venv" / "bin" / "python", root / "venv" / "bin" / "python"]
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if os.environ.get(var):
            candidates.append(Path(os.environ[var]) / "bin" / "python")
    ours = Path(sys.prefix).resolve()  # venv interpreters are links to one base python
    for python in candidates:
        if not python.is_file() or python.parent.parent.resolve() == ours:
            continue
        probe = subprocess.run(
            [str(python), "-c", "import hydra"], capture_output=True, timeout=60, check=False
        )
        if probe.returncode == 0:
            return python
    return None


def _describe(app: discover.App, root: Path) -> str:
    where = app.file.relative_to(root)
    how = f"python -m {app.module}" if app.module else f"python {where}"
    config = app.config_dir.relative_to(root) if app.config_dir else "none"
    base = (
        "not given (Hydra 1.1 behaviour)"
        if app.version_base == discover.UNSPECIFIED
        else app.version_base
    )
    return (
        f"{how}  (in {where}; config dir {config}, config {app.config_name}, version_base {base})"
    )


def _choose(apps: list[discover.App], root: Path) -> discover.App:
    if len(apps) == 1:
        return apps[0]
    listing = "; ".join(f"{i + 1}: {_describe(a, root)}" for i, a in enumerate(apps))
    if not sys.stdin.isatty():
        raise BadInput(
            f"{len(apps)} Hydra apps found ({listing}): choose with --module or --script"
        )
    for i, app in enumerate(apps, start=1):
        stdout().print(f"{i}. {_describe(app, root)}", highlight=False, markup=False)
    number = typer.prompt("Which one", type=int, default=1)
    if not 1 <= number <= len(apps):
        raise BadInput(f"choose a number from 1 to {len(apps)}")
    return apps[number - 1]


def init(
    module: str = typer.Option(None, "--module", help="The app module, if several are found."),
    script: str = typer.Option(None, "--script", help="The app script, if several are found."),
    command: str = typer.Option(
        None, "--command", help="A command line for the app instead (e.g. 'conda run -n x ...')."
    ),
    python: str = typer.Option(
        None, "--python", help="Interpreter for the app (default: the project's own env, if any)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Write without asking."),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing [tool.thesis-sweep] (or profile)."
    ),
    profile: str = typer.Option(
        None,
        "--profile",
        metavar="SITE",
        help="Write a profile for a known site instead (stoomboot): its required lines, "
        "the job category chosen from --time, GPU lines with --gpus.",
    ),
    time: str = typer.Option("1-00:00:00", "--time", help="With --profile: the time limit."),
    memory: str = typer.Option("16GB", "--memory", help="With --profile: memory per job."),
    cpus: int = typer.Option(1, "--cpus", min=1, help="With --profile: CPUs per job."),
    gpus: int = typer.Option(None, "--gpus", min=1, help="With --profile: GPUs per job."),
) -> int:
    """Find the project's Hydra app (@hydra.main, read from the source, never imported)
    and write its settings into \\[tool.thesis-sweep] of pyproject.toml.

    Config dir, config name and version_base stay in the app's decorator: thesis-sweep
    reads them from there at each run. Without a terminal it writes without asking.
    With --profile SITE it writes a profile for that cluster (e.g. `init --profile
    stoomboot --time 96:00:00 --gpus 1`), and the app's settings too if there are none.
    """
    from sweeper_cli.project.pyproject import write_settings

    root = nearest_project(Path.cwd().resolve())
    if profile:
        return _site_profile(root, profile, python, cpus, memory, time, gpus, force)
    values: dict[str, str | list[str]] = {}
    comments: list[str] = []
    if command:
        values["command"] = command
    else:
        if script:
            app = discover.app_in(Path(script).resolve(), root)
            if app is None:
                raise BadInput(f"no @hydra.main found in {script}")
            apps = [app]
        else:
            apps = [a for a in discover.find_apps(root) if module in (None, a.module)]
        if not apps:
            what = f"module {module}" if module else f"the project under {root}"
            raise BadInput(
                f"no Hydra app (@hydra.main) found in {what}; give --script or --command"
            )
        app = _choose(apps, root)
        if app.module:
            values["module"] = app.module
        else:
            values["script"] = str(app.file.relative_to(root))
        if app.python_path:
            values["python_path"] = [str(p.relative_to(root)) for p in app.python_path]
        comments.append(f"Hydra app: {_describe(app, root)}")
        comments.extend(app.notes)
    interpreter = Path(python) if python else _interpreter(root)
    if python and shutil.which(python) is None:
        raise BadInput(f"--python {python} not found")
    if interpreter is not None:
        inside = interpreter.absolute().is_relative_to(root)
        values["python"] = str(interpreter.absolute().relative_to(root) if inside else interpreter)
    pyproject = root / "pyproject.toml"
    err = stderr()
    if sys.stdin.isatty() and not yes:
        from sweeper_cli.project.pyproject import table_text

        stdout().print(table_text(values, comments), highlight=False, markup=False)
        if not typer.confirm(f"write this into {pyproject}?", default=True):
            err.print("nothing written", highlight=False)
            return EXIT_OK
    written = write_settings(pyproject, values, comments, replace=force)
    err.print(f"wrote into {pyproject}:", highlight=False, markup=False)
    stdout().print(written, highlight=False, markup=False, end="")
    return EXIT_OK


def _site_profile(
    root: Path,
    site_name: str,
    python: str | None,
    cpus: int,
    memory: str,
    time: str,
    gpus: int | None,
    force: bool,
) -> int:
    """`init --profile SITE`: a commented profile with the site's lines, checked."""
    from sweeper_cli.project import sites
    from sweeper_cli.project.profiles import make_profile
    from sweeper_cli.project.pyproject import write_block
    from sweeper_cli.project.resources import more_time, parse_memory
    from sweeper_cli.project.settings import find_pyproject

    site = sites.load(site_name)
    limit = more_time(time, None)
    interpreter = python or str(_interpreter(root) or sys.executable)
    block = sites.profile_toml(
        site, site_name, interpreter, cpus, parse_memory(memory, "--memory"), limit, gpus
    )
    made = make_profile(
        site_name, sites.read_profile(block, site_name)
    )  # what we write must pass our own checks
    assert not sites.warnings(site, made.extra, made.time, made.gpus), block
    pyproject = find_pyproject(root) or root / "pyproject.toml"
    header = f"[tool.thesis-sweep.profiles.{site_name}]"
    write_block(pyproject, header, block, replace=force)
    err = stderr()
    err.print(f"wrote into {pyproject}:", highlight=False)
    sys.stdout.write(printable_lines(block))
    sys.stdout.flush()
    if shutil.which(interpreter) is None:
        err.print(f"note: edit python: {interpreter} does not exist here", highlight=False)
    err.print(
        f"use it with: thesis-sweep run --profile {site_name} ...  (--dry-run shows the "
        "submit file)",
        highlight=False,
    )
    return EXIT_OK
