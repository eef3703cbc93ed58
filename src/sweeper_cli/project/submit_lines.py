"""Which `extra` lines a profile may add to a submission: the site's own lines, never one
that redefines what thesis-sweep writes itself.

An HTCondor submit description takes the last value of a command, so an `extra` line
`log = x.log` would hide the event log `status` reads, `environment = ...` would wipe the
job's scheduler id, and `request_memory = ...` would silently beat the profile's `memory`.
Such lines are refused with the setting to use instead. The same holds for the `#SBATCH`
options of a Slurm array (condor_submit(1), sbatch(1)). Stdlib-only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sweeper_cli.errors import BadInput

_OWNED_FILES = "thesis-sweep writes it itself"
# HTCondor submit commands (case-insensitive) -> what to do instead.
HTCONDOR_OWNED = {
    "executable": f"{_OWNED_FILES} (the sweep's job script)",
    "arguments": f"{_OWNED_FILES} (the job number)",
    "initialdir": f"{_OWNED_FILES} (the sweep's submit folder)",
    "output": "set `logs` in the profile for the folder of the scheduler's .out/.err files",
    "error": "set `logs` in the profile for the folder of the scheduler's .out/.err files",
    "log": f"{_OWNED_FILES}: `status` reads that event log",
    "environment": "use the profile's `env` table (merged with thesis-sweep's own variables)",
    "request_cpus": "use `cpus` in the profile",
    "request_memory": "use `memory` in the profile",
    "request_gpus": "use `gpus` in the profile",
    "allowed_job_duration": "use `time` in the profile",
    "accounting_group": "use `account` in the profile",
    "max_materialize": "use `max_parallel` in the profile (or --max-parallel)",
    "checkpoint_exit_code": "use `checkpoint_exit_code` in the profile",
    "queue": f"{_OWNED_FILES} (one job per line of the sweep's item list)",
}
# Slurm options (long and short forms) -> what to do instead.
SLURM_OWNED = {
    "--array": f"{_OWNED_FILES} (one task per job of the sweep; --max-parallel throttles)",
    "-a": f"{_OWNED_FILES} (one task per job of the sweep; --max-parallel throttles)",
    "--output": "set `logs` in the profile for the folder of the scheduler's .out files",
    "-o": "set `logs` in the profile for the folder of the scheduler's .out files",
    "--error": "set `logs` in the profile for the folder of the scheduler's .out files",
    "-e": "set `logs` in the profile for the folder of the scheduler's .out files",
    "--job-name": f"{_OWNED_FILES} (ts-<sweep>)",
    "-J": f"{_OWNED_FILES} (ts-<sweep>)",
    "--cpus-per-task": "use `cpus` in the profile",
    "-c": "use `cpus` in the profile",
    "--mem": "use `memory` in the profile",
    "--gres": "use `gpus` in the profile for GPUs",
    "--gpus": "use `gpus` in the profile",
    "-G": "use `gpus` in the profile",
    "--time": "use `time` in the profile",
    "-t": "use `time` in the profile",
    "--partition": "use `partition` in the profile",
    "-p": "use `partition` in the profile",
    "--account": "use `account` in the profile",
    "-A": "use `account` in the profile",
    "--parsable": f"{_OWNED_FILES} (thesis-sweep reads sbatch's answer)",
}
# HTCondor commands thesis-sweep writes only when the profile's lines do not.
HTCONDOR_DEFAULTS = ("universe", "batch_name")
_CONDOR_KEY = re.compile(r"^\s*([A-Za-z_+][A-Za-z0-9_.+]*)\s*(=|$|\s)")


def condor_command(line: str) -> str | None:
    """The command an HTCondor submit line sets (lower case), or None for a comment."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    match = _CONDOR_KEY.match(text)
    return match.group(1).lower() if match else text.split()[0].lower()


def slurm_option(line: str) -> str | None:
    """The option an `#SBATCH` line (or a bare option) gives, or None for a comment."""
    text = line.strip()
    if text.startswith("#SBATCH"):
        text = text[len("#SBATCH") :].strip()
    if not text or text.startswith("#"):
        return None
    word = text.split()[0]
    if word.startswith("--"):
        word = word.split("=", 1)[0]
        if word == "--gres" and "gpu" not in text:
            return None  # other generic resources are the site's
        return word
    return word[:2] if word.startswith("-") else word


def check_extra(profile: str, backend: str, lines: Sequence[str]) -> None:
    """BadInput for the first line that redefines what thesis-sweep writes."""
    for line in lines:
        if backend == "htcondor":
            key = condor_command(line)
            why = HTCONDOR_OWNED.get(key or "")
        elif backend == "slurm":
            key = slurm_option(line)
            why = SLURM_OWNED.get(key or "")
        else:
            return
        if why is not None:
            raise BadInput(
                f"profile {profile!r}: the extra line {line!r} sets {key}, which "
                f"thesis-sweep owns: {why}"
            )


def htcondor_defaults_given(lines: Sequence[str]) -> set[str]:
    """The replaceable commands (universe, batch_name) the profile's lines set."""
    found = {condor_command(line) for line in lines}
    return {key for key in HTCONDOR_DEFAULTS if key in found}
