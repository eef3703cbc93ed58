"""The job script every cluster job runs: the profile's set-up lines, then the job runner.

Every value we put in it is quoted with `shlex.quote`; only the profile's `setup` lines
(the site's own shell, e.g. `module load` or `conda activate`) are written verbatim, one
line each. The runner is the sweep's own copy (submit/runner.py, standard library only),
run by the job's interpreter, so the workers need nothing of thesis-sweep installed.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from sweeper_cli.profiles import Profile

JOB_SCRIPT = "job.sh"
RUNNER_COPY = "runner.py"


def render_job_script(profile: Profile, python: str, sweep_dir: Path) -> str:
    submit = sweep_dir / "submit"
    lines = [
        "#!/bin/bash",
        "# thesis-sweep job script: runs job number $1 of the sweep whose folder is below.",
        "# Re-runnable by hand: bash job.sh <job number>",
        "set -eo pipefail",
    ]
    if profile.setup:
        lines.append(f"# set-up lines of profile {profile.name}")
        lines.extend(profile.setup)
    lines.extend(f"export {key}={shlex.quote(value)}" for key, value in profile.env.items())
    if profile.checkpoint_exit_code:
        lines.append(f"export THESIS_SWEEP_CHECKPOINT_EXIT_CODE={profile.checkpoint_exit_code}")
    lines.append(
        f"exec {shlex.quote(python)} {shlex.quote(str(submit / RUNNER_COPY))} "
        f'--sweep-dir {shlex.quote(str(sweep_dir))} --job "$1"'
    )
    return "\n".join(lines) + "\n"


def check_setup(profile: Profile) -> None:
    """Each set-up line must be a complete shell command on its own (`bash -n`): an open
    quote or an unfinished `if` would swallow the lines that start the job."""
    import shutil
    import subprocess

    from sweeper_cli.errors import BadInput

    if not profile.setup or shutil.which("bash") is None:
        return
    for line in profile.setup:
        done = subprocess.run(
            ["bash", "-n", "-c", line], capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise BadInput(
                f"profile {profile.name!r}: set-up line {line!r} is not a complete shell "
                "command on its own line"
            )


def write_job_script(submit_dir: Path, text: str) -> Path:
    from sweeper_cli import store

    path = submit_dir / JOB_SCRIPT
    store.atomic_write_text(path, text)
    path.chmod(0o755)
    return path
