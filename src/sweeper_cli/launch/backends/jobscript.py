"""The job script every cluster job runs: the profile's set-up blocks, the job runner,
then the profile's teardown blocks.

Every value we put in it is quoted with `shlex.quote`; only the profile's `setup` and
`teardown` entries (the site's own shell, e.g. `module load`, `conda activate`, a line that
prints the exit code) are written verbatim, each a complete shell block. The runner is
the sweep's own copy (submit/runner.py, with the job-file protocol it loads beside it,
submit/jobfiles.py: standard library only), run by the job's interpreter, so the workers
need nothing of thesis-sweep installed.

Without teardown the script `exec`s the runner, so the scheduler's signals reach it
directly. With teardown the runner runs as a child: HTCondor signals only the job's own
process (this script), so the script forwards SIGTERM/SIGINT to the runner; Slurm signals
every process of the job, so there the script only waits. The teardown blocks run after
the runner whatever its exit (in `THESIS_SWEEP_EXIT_CODE`), and the script exits with the
runner's code, which is the app's.

A submission of packs (several jobs one after another in one scheduler job) gets a script
of its own, `pack-<k>.sh`, the same but for its last line: the pack runner (submit/pack.py)
runs pack number $1 of `packs-<k>.json`.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from sweeper_cli.project.profiles import Profile

JOB_SCRIPT = "job.sh"
RUNNER_COPY = "runner.py"
PROTOCOL_COPY = "jobfiles.py"  # the job-file protocol the runner copy loads beside it
PACK_COPY = "pack.py"  # the pack runner (several jobs in one scheduler job)


def render_job_script(
    profile: Profile, python: str, sweep_dir: Path, packs: Path | None = None
) -> str:
    """The job script of a sweep (`$1`: a job number), or with `packs` the script of one
    submission of packs (`$1`: a pack number in that packs file; its copies of the runner
    and the pack runner lie beside it)."""
    submit = sweep_dir / "submit"
    if packs is None:
        about = "runs job number $1 of the sweep whose folder is below."
        again = "bash job.sh <job number>"
        runner = (
            f"{shlex.quote(python)} {shlex.quote(str(submit / RUNNER_COPY))} "
            f'--sweep-dir {shlex.quote(str(sweep_dir))} --job "$1"'
        )
    else:
        about = f"runs pack number $1 of {packs.name}, its jobs one after another."
        again = f"bash {packs.stem.replace('packs-', 'pack-')}.sh <pack number>"
        runner = (
            f"{shlex.quote(python)} {shlex.quote(str(packs.parent / PACK_COPY))} "
            f'{shlex.quote(str(packs))} "$1"'
        )
    lines = [
        "#!/bin/bash",
        f"# thesis-sweep job script: {about}",
        f"# Re-runnable by hand: {again}",
        "set -eo pipefail",
    ]
    if profile.setup:
        lines.append(f"# set-up lines of profile {profile.name}")
        lines.extend(profile.setup)
    lines.extend(f"export {key}={shlex.quote(value)}" for key, value in profile.env.items())
    if profile.checkpoint_exit_code:
        lines.append(f"export THESIS_SWEEP_CHECKPOINT_EXIT_CODE={profile.checkpoint_exit_code}")
    if not profile.teardown:
        lines.append(f"exec {runner}")
        return "\n".join(lines) + "\n"
    forward = 'kill -TERM "$runner" 2>/dev/null' if profile.backend == "htcondor" else ":"
    lines += [
        "set +e",
        f"{runner} &",
        "runner=$!",
        f"trap '{forward}' TERM INT",
        'wait "$runner"; code=$?',
        'while kill -0 "$runner" 2>/dev/null; do wait "$runner"; code=$?; done',
        "trap - TERM INT",
        "export THESIS_SWEEP_EXIT_CODE=$code",
        f"# teardown of profile {profile.name}: runs whatever the job's exit",
        *profile.teardown,
        'exit "$code"',
    ]
    return "\n".join(lines) + "\n"


def unit(job_script: Path) -> str:
    """What one scheduler task of a submission runs: a job, or a pack (`pack-<k>.sh`)."""
    return "pack" if job_script.name.startswith("pack-") else "job"


def check_setup(profile: Profile) -> None:
    """Each set-up and teardown entry must be a complete shell block on its own (`bash -n`):
    an open quote or an unfinished `if` would swallow the lines that start the job."""
    import shutil
    import subprocess

    from sweeper_cli.errors import BadInput

    if shutil.which("bash") is None:
        return
    for key, blocks in (("set-up", profile.setup), ("teardown", profile.teardown)):
        for block in blocks:
            done = subprocess.run(
                ["bash", "-n", "-c", block], capture_output=True, text=True, timeout=10
            )
            if done.returncode != 0:
                raise BadInput(
                    f"profile {profile.name!r}: {key} entry {block!r} is not a complete "
                    "shell command on its own"
                )


def write_job_script(submit_dir: Path, text: str, name: str = JOB_SCRIPT) -> Path:
    from sweeper_cli.store import layout

    path = submit_dir / name
    layout.atomic_write_text(path, text)
    path.chmod(0o755)
    return path
