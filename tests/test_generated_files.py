"""Every generated file is injection-proof for every input (property tests).

For arbitrary paths, names and values, each generator either refuses the input before
anything is written (BadInput) or writes a file that its consumer reads back as exactly
the values we meant, with nothing added:
- job.sh: run by bash for real, with a stand-in interpreter that reports its argv and env;
- the sbatch script: run by bash as Slurm runs it, and its #SBATCH lines read by the rules
  of sbatch's own option parser (src/sbatch/opt.c `_get_argument`: quotes, backslash
  escapes, `#` comments);
- the HTCondor submit description: read by the rules of condor_submit (one statement per
  line, a trailing backslash continues it, `#` comments, `key = value` with both sides
  stripped, and `$` starting a macro in any value).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sweeper_cli.errors import BadInput
from sweeper_cli.launch.backends import htcondor, slurm
from sweeper_cli.launch.backends.htcondor import HTCondorBackend
from sweeper_cli.launch.backends.jobscript import render_job_script
from sweeper_cli.launch.backends.slurm import SlurmBackend
from sweeper_cli.project.profiles import Profile, make_profile

# Any character a POSIX path component can hold (no NUL, no '/'), weighted towards the
# ones shells, sbatch and condor_submit treat specially.
SPECIAL = "$`'\"\\%#;&|*?~!{}()[]<>= \t\n\r:@^,."
component = st.text(
    alphabet=st.one_of(
        st.sampled_from(SPECIAL),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"),
    ),
    min_size=1,
    max_size=12,
).filter(lambda c: c not in (".", ".."))
sweep_dirs = st.lists(component, min_size=1, max_size=3).map(
    lambda parts: Path("/", *parts, "multiruns", "exp_20260101-000000_x")
)
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
# Variables bash sets itself (`$_`, the working directory, the nesting level) are not ours.
BASH_OWN = {"_", "PWD", "OLDPWD", "SHLVL"}
env_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda key: key not in BASH_OWN
)
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def fake_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in interpreter: prints its argv and environment as JSON."""
    folder = tmp_path_factory.mktemp("fake python $(x) 'q'")
    script = folder / "python"
    script.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}))\n"
    )
    script.chmod(0o755)
    return script


def run_bash(script: str, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    path = tmp / "script.sh"
    path.write_text(script)
    done = subprocess.run(
        ["bash", str(path), *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    assert done.returncode == 0, (script, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- job.sh ---------------------------------------------------------------------------------


@PROPERTY
@given(sweep=sweep_dirs, env=st.dictionaries(env_keys, values, max_size=3))
def test_job_script_passes_every_path_and_value_literally(
    sweep: Path, env: dict[str, str], fake_python: Path, tmp_path: Path
) -> None:
    profile = make_profile("site", {"env": env})
    seen = run_bash(render_job_script(profile, str(fake_python), sweep), tmp_path, "7")
    assert seen["argv"] == [
        str(sweep / "submit" / "runner.py"),
        "--sweep-dir",
        str(sweep),
        "--job",
        "7",
    ]
    for key, value in env.items():
        assert seen["env"][key] == value
    assert not list(tmp_path.glob("pwn*"))


@given(name=st.text(max_size=20))
def test_profile_names_are_plain_or_refused(name: str) -> None:
    try:
        profile = make_profile(name, {"setup": ["true"]})
    except BadInput:
        return
    text = render_job_script(profile, "python", Path("/s/multiruns/x"))
    lines = text.split("\n")
    assert len(lines) == 8  # shebang, 2 comments, set -eo, comment, set-up, exec, ""
    assert lines[4] == f"# set-up lines of profile {name}" and lines[5] == "true"


# --- sbatch -------------------------------------------------------------------------------


def sbatch_arguments(line: str) -> list[str]:
    """The arguments sbatch reads from the rest of an #SBATCH line: quotes group, a
    backslash escapes the next character, an unquoted `#` ends the line."""
    args: list[str] = []
    current: list[str] = []
    quote = None
    escape = started = False
    for char in line:
        if escape:
            current.append(char)
            escape = False
        elif char == "\\":
            escape = started = True
        elif quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "\"'":
            quote, started = char, True
        elif char == "#":
            break
        elif char.isspace():
            if current or started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if current or started:
        args.append("".join(current))
    return args


@PROPERTY
@given(sweep=sweep_dirs)
def test_sbatch_script_holds_the_sweep_path_exactly(
    sweep: Path, fake_python: Path, tmp_path: Path
) -> None:
    backend = SlurmBackend(Profile(backend="slurm"))
    try:
        backend.check_paths([sweep])
    except BadInput:
        assume(False)  # refused before writing: fine
    submit = sweep / "submit"
    text = slurm.render_sbatch(sweep.name, submit, submit / "job.sh", [0, 3], backend.profile, 2)
    options = [line[len("#SBATCH") :] for line in text.split("\n") if line.startswith("#SBATCH")]
    parsed = [sbatch_arguments(line) for line in options]
    assert parsed == [
        [f"--job-name=ts-{sweep.name}"],
        ["--array=0,3%2"],
        [f"--output={submit / 'slurm-%A_%a.out'}"],
    ]
    # The body, run by bash as Slurm would for task 3, starts job.sh with that number.
    job = tmp_path / "job.sh"
    job.write_text(f'exec {shlex.quote(str(fake_python))} "$@"\n')
    body = text.replace(shlex.quote(str(submit / "job.sh")), shlex.quote(str(job)))
    seen = run_bash(body, tmp_path, env={"SLURM_ARRAY_JOB_ID": "10", "SLURM_ARRAY_TASK_ID": "3"})
    assert seen["argv"] == ["3"] and seen["env"]["THESIS_SWEEP_SCHEDULER_ID"] == "10_3"


# --- HTCondor submit description ------------------------------------------------------------


def submit_statements(text: str) -> tuple[dict[str, str], list[str]]:
    """(key -> value, queue statements) as condor_submit reads them."""
    logical: list[str] = []
    pending = ""
    for raw in text.split("\n"):
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        logical.append(pending + raw)
        pending = ""
    pairs: dict[str, str] = {}
    queues: list[str] = []
    for line in logical:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.lower().startswith("queue"):
            queues.append(stripped)
            continue
        key, sep, value = stripped.partition("=")
        assert sep, f"not a statement: {line!r}"
        assert key.strip() not in pairs, f"{key.strip()} given twice"
        pairs[key.strip()] = value.strip()
    return pairs, queues


OUR_MACROS = {"$(num)", "$(Cluster)", "$(Process)"}


@PROPERTY
@given(
    sweep=sweep_dirs,
    memory=st.one_of(st.none(), st.text(max_size=8)),
    account=st.one_of(st.none(), st.text(max_size=8)),
)
def test_submit_description_holds_exactly_what_we_meant(
    sweep: Path, memory: str | None, account: str | None
) -> None:
    table = {k: v for k, v in (("memory", memory), ("account", account)) if v is not None}
    try:
        profile = make_profile("site", {"backend": "htcondor", **table})
        backend = HTCondorBackend(profile)
        backend.check_paths([sweep])
    except BadInput:
        assume(False)
    submit = sweep / "submit"
    text = htcondor.render_submit(
        sweep.name,
        submit,
        submit / "job.sh",
        submit / "items-1.txt",
        submit / "events-1.log",
        submit,
        backend.profile,
        None,
    )
    pairs, queues = submit_statements(text)
    assert queues == [f"queue num from {submit / 'items-1.txt'}"]
    expected = {
        "universe": "vanilla",
        "executable": str(submit / "job.sh"),
        "arguments": "$(num)",
        "initialdir": str(submit),
        "output": f"{submit}/condor-$(Cluster)_$(num).out",
        "error": f"{submit}/condor-$(Cluster)_$(num).err",
        "log": str(submit / "events-1.log"),
        "environment": '"THESIS_SWEEP_SCHEDULER_ID=$(Cluster).$(Process)"',
        "batch_name": f"ts-{sweep.name}",
    }
    if profile.memory:
        expected["request_memory"] = profile.memory
    if profile.account:
        expected["accounting_group"] = profile.account
    assert pairs == expected
    for value in pairs.values():  # no macro but ours: nothing of the input is expanded
        rest = value
        for macro in OUR_MACROS:
            rest = rest.replace(macro, "")
        assert "$" not in rest


@pytest.mark.parametrize(
    "text",
    [
        "/out/$ENV(HOME)",
        "/out/$RANDOM_INTEGER(1,9)",
        "/out/$$(Name)",
        "/out/a\nqueue 99",
        "/out/ends-with-space ",
        "/out/ends-with\\",
    ],
)
def test_submit_paths_that_condor_would_read_differently_are_refused(text: str) -> None:
    with pytest.raises(BadInput, match="cannot hold literally"):
        HTCondorBackend(Profile(backend="htcondor")).check_paths([Path(text)])
