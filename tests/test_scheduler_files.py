"""The files the cluster backends write (sbatch script, submit description, job.sh),
compared with reviewed golden files, and run for real with bash; profile validation.

Goldens live in tests/data/golden/. A missing golden fails the test with the rendered
text in the message: review it, then save it under the named path.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweeper_cli.errors import BadInput
from sweeper_cli.launch.backends import htcondor, slurm
from sweeper_cli.launch.backends.cluster import check_submit_path
from sweeper_cli.launch.backends.htcondor import HTCondorBackend
from sweeper_cli.launch.backends.jobscript import render_job_script, write_job_script
from sweeper_cli.launch.backends.slurm import SlurmBackend
from sweeper_cli.project.profiles import Profile, choose, make_profile

GOLDEN = Path(__file__).parent / "data" / "golden"

SWEEP = Path("/scratch/alice/outputs/multiruns/20250301-101500_lr-sweep")
# Spaces are fine for both schedulers' files (no `"`, `%` or `$(`: see check_submit_path).
SPACED_SWEEP = Path("/scratch/alice/thesis runs/multiruns/20250301-101500_lr-sweep")
# job.sh quotes everything, so its sweep folder may hold anything but a newline.
NASTY_SWEEP = Path('/scratch/alice/it\'s "my" $(runs) `x`/multiruns/20250301-101500_lr-sweep')
NUMS = [0, 1, 2, 3, 5, 7, 8, 9]
PYTHON = "/opt/conda/envs/thesis/bin/python"
HOSTILE = "$(touch /tmp/pwned) 'x' \"y\""
# HTCondor reads `$` as a macro in its submit file: a profile for it is refused one.
HOSTILE_CONDOR = "(touch /tmp/pwned) 'x' \"y\" ;&|`id`"

FULL_TABLE: dict[str, Any] = {
    "cpus": 8,
    "memory": "32G",
    "gpus": 2,
    "time": "1-12:00:00",
    "partition": "gpu-a100",
    "account": "thesis-lab",
    "max_parallel": 4,
    "python": "/home/alice/my envs/thesis/bin/python",
    "setup": ["module load cuda/12", "source ~/miniconda3/bin/activate thesis"],
    "env": {"WANDB_MODE": "offline", "HOSTILE": HOSTILE, "EMPTY": ""},
}
SLURM_FULL = make_profile(
    "a100",
    {**FULL_TABLE, "backend": "slurm", "extra": ["--constraint=a100", "#SBATCH --exclusive"]},
)
CONDOR_FULL = make_profile(
    "a100",
    {
        **{k: v for k, v in FULL_TABLE.items() if k != "partition"},
        "env": {"WANDB_MODE": "offline", "HOSTILE": HOSTILE_CONDOR, "EMPTY": ""},
        "backend": "htcondor",
        "extra": ['+JobCategory = "medium"'],
    },
)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if not path.exists():
        pytest.fail(
            f"golden file {path} is missing; review this rendered text and save it there:\n{text}",
            pytrace=False,
        )
    assert text == path.read_text(), f"{name} differs from its golden file"


def sbatch_text(profile: Profile, sweep: Path) -> str:
    backend = SlurmBackend(profile)
    submit = sweep / "submit"
    return slurm.render_sbatch(
        sweep.name, submit, submit / "job.sh", NUMS, backend.profile, backend.max_parallel
    )


def submit_text(profile: Profile, sweep: Path) -> str:
    backend = HTCondorBackend(profile)
    submit = sweep / "submit"
    return htcondor.render_submit(
        sweep.name,
        submit,
        submit / "job.sh",
        submit / "items-1.txt",
        submit / "events-1.log",
        Path("/home/alice/thesis"),
        backend.profile,
        backend.max_parallel,
    )


def job_text(profile: Profile, sweep: Path) -> str:
    # The settings resolve the profile's python first, then the others (here PYTHON).
    python = SlurmBackend(profile, python=profile.python or PYTHON).python
    return render_job_script(profile, python, sweep)


@pytest.mark.parametrize(
    ("name", "render"),
    [
        pytest.param(
            "slurm_default.sbatch.txt",
            lambda: sbatch_text(Profile(backend="slurm"), SWEEP),
            id="sbatch-default",
        ),
        pytest.param(
            "slurm_full.sbatch.txt", lambda: sbatch_text(SLURM_FULL, SPACED_SWEEP), id="sbatch-full"
        ),
        pytest.param(
            "htcondor_default.sub.txt",
            lambda: submit_text(Profile(backend="htcondor"), SWEEP),
            id="submit-default",
        ),
        pytest.param(
            "htcondor_full.sub.txt",
            lambda: submit_text(CONDOR_FULL, SPACED_SWEEP),
            id="submit-full",
        ),
        pytest.param("job_default.sh.txt", lambda: job_text(Profile(), SWEEP), id="job-default"),
        pytest.param("job_full.sh.txt", lambda: job_text(SLURM_FULL, NASTY_SWEEP), id="job-full"),
    ],
)
def test_golden(name: str, render: Any) -> None:
    check_golden(name, render())


def test_job_script_quotes_every_value() -> None:
    """Independent of the golden: each env value and the paths are one shell word that
    `shlex.split` turns back into the original value."""
    text = job_text(SLURM_FULL, NASTY_SWEEP)
    lines = text.splitlines()
    for key, value in SLURM_FULL.env.items():
        (line,) = [line for line in lines if line.startswith(f"export {key}=")]
        assert shlex.split(line) == ["export", f"{key}={value}"]
    exec_line = lines[-1]
    assert shlex.split(exec_line) == [
        "exec",
        "/home/alice/my envs/thesis/bin/python",
        str(NASTY_SWEEP / "submit" / "runner.py"),
        "--sweep-dir",
        str(NASTY_SWEEP),
        "--job",
        "$1",
    ]
    for setup in SLURM_FULL.setup:  # the site's own shell: verbatim, by design
        assert setup in lines


# HTCondor has no time-limit syntax of its own: the profile's Slurm-style limit becomes
# `allowed_job_duration` in seconds (`allowed_execute_duration` would be ignored on a
# shared file system: it needs file transfer). Slurm's formats (man sbatch): "minutes",
# "minutes:seconds", "hours:minutes:seconds", "days-hours", "days-hours:minutes",
# "days-hours:minutes:seconds".
@pytest.mark.parametrize(
    ("limit", "seconds"),
    [
        pytest.param("90", 90 * 60, id="minutes"),
        pytest.param("90:30", 90 * 60 + 30, id="minutes-seconds"),
        pytest.param("02:00:00", 2 * 3600, id="hours-minutes-seconds"),
        pytest.param("1-12:00:00", 36 * 3600, id="days-hours-minutes-seconds"),
        pytest.param("1-12", 36 * 3600, id="days-hours"),
        pytest.param("1-12:30", 36 * 3600 + 1800, id="days-hours-minutes"),
    ],
)
def test_htcondor_time_limit(limit: str, seconds: int) -> None:
    profile = make_profile("p", {"backend": "htcondor", "time": limit})
    text = submit_text(profile, SWEEP)
    assert f"allowed_job_duration = {seconds}\n" in text


def test_htcondor_throttles_with_late_materialization_and_has_no_partitions() -> None:
    assert HTCondorBackend(CONDOR_FULL).max_parallel == 4
    assert "max_materialize = 4\n" in submit_text(CONDOR_FULL, SWEEP)
    with pytest.raises(BadInput, match="no partitions"):
        make_profile("p", {"backend": "htcondor", "partition": "gpu"})


@pytest.mark.parametrize(
    ("sweep", "forbidden", "bad"),
    [
        pytest.param("/out/a\nb", (), "\n", id="newline-always"),
        pytest.param('/out/say "hi"', slurm.SlurmBackend.forbidden_in_paths, '"', id="slurm-quote"),
        pytest.param("/out/100%", slurm.SlurmBackend.forbidden_in_paths, "%", id="slurm-percent"),
        pytest.param("/out/$(x)", HTCondorBackend.forbidden_in_paths, "$", id="condor-macro"),
        pytest.param("/o/$ENV(HOME)", HTCondorBackend.forbidden_in_paths, "$", id="condor-env"),
        pytest.param("/out/x\r", (), "\r", id="carriage-return-always"),
    ],
)
def test_check_submit_path_refuses(sweep: str, forbidden: tuple[str, ...], bad: str) -> None:
    with pytest.raises(BadInput, match="cannot hold literally") as info:
        check_submit_path(Path(sweep), forbidden)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize(
    ("sweep", "forbidden"),
    [
        pytest.param(str(SPACED_SWEEP), slurm.SlurmBackend.forbidden_in_paths, id="slurm-space"),
        pytest.param("/out/it's $(x)", slurm.SlurmBackend.forbidden_in_paths, id="slurm-macro"),
        pytest.param("/out/100% 'q' \"d\"", HTCondorBackend.forbidden_in_paths, id="condor"),
    ],
)
def test_check_submit_path_accepts(sweep: str, forbidden: tuple[str, ...]) -> None:
    check_submit_path(Path(sweep), forbidden)


# --- job.sh (and the sbatch script) run for real, with a fake interpreter -------------------

FAKE_PYTHON = """\
import json, os, sys
keys = ["HOSTILE", "WANDB_MODE", "EMPTY", "MULTI", "SETUP_MARK", "CONDA_ENV_FAKE",
        "THESIS_SWEEP_SCHEDULER_ID"]
print(json.dumps({"argv": sys.argv[1:], "env": {k: os.environ.get(k) for k in keys}}))
"""


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Any]:
    """A fake site: `module` on PATH, a conda-like activate script under HOME, and a
    stand-in interpreter (in a folder with a space) that prints its argv and env."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    modules = tmp_path / "modules.log"
    module = bin_dir / "module"
    module.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(modules))}\n')
    module.chmod(0o755)
    home = tmp_path / "home"
    activate = home / "miniconda3" / "bin" / "activate"
    activate.parent.mkdir(parents=True)
    activate.write_text('export CONDA_ENV_FAKE="$1"\n')
    fake_dir = tmp_path / "fake py"
    fake_dir.mkdir()
    (fake_dir / "fake.py").write_text(FAKE_PYTHON)
    python = fake_dir / "python"
    python.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(fake_dir / 'fake.py'))}"
        ' "$@"\n'
    )
    python.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(home)}
    env.pop("THESIS_SWEEP_SCHEDULER_ID", None)
    return {"python": str(python), "env": env, "modules": modules, "tmp": tmp_path}


def _site_profile(tmp: Path, backend: str) -> tuple[Profile, list[Path]]:
    pwned = [tmp / "pwned-dollar", tmp / "pwned-tick", tmp / "pwned-semicolon"]
    hostile = f"$(touch {pwned[0]}) 'x' \"y\" `touch {pwned[1]}` ; touch {pwned[2]} $HOME \\ %"
    profile = make_profile(
        "site",
        {
            "backend": backend,
            "setup": [
                "module load cuda/12",
                "source ~/miniconda3/bin/activate thesis",
                'export SETUP_MARK="$((6 * 7))"',
            ],
            "env": {"HOSTILE": hostile, "WANDB_MODE": "offline", "EMPTY": "", "MULTI": "a\nb"},
        },
    )
    return profile, pwned


def _run(argv: list[str], site: dict[str, Any], extra_env: dict[str, str] | None = None) -> Any:
    done = subprocess.run(
        argv,
        cwd=site["tmp"],
        env={**site["env"], **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_job_script_runs_setup_exports_literally_and_passes_args(site: dict[str, Any]) -> None:
    tmp: Path = site["tmp"]
    sweep = tmp / "out dir" / "sweep 'single' \"double\" $(touch pwned-name) `touch tick`"
    submit = sweep / "submit"
    submit.mkdir(parents=True)
    profile, pwned = _site_profile(tmp, "slurm")
    script = write_job_script(submit, render_job_script(profile, site["python"], sweep))
    assert os.access(script, os.X_OK)

    seen = _run(["bash", str(script), "7"], site)

    runner_copy = str(submit / "runner.py")
    assert seen["argv"] == [runner_copy, "--sweep-dir", str(sweep), "--job", "7"]
    assert seen["env"]["HOSTILE"] == profile.env["HOSTILE"]  # literally, nothing expanded
    assert seen["env"]["WANDB_MODE"] == "offline"
    assert seen["env"]["EMPTY"] == ""
    assert seen["env"]["MULTI"] == "a\nb"
    assert seen["env"]["SETUP_MARK"] == "42"  # setup lines are shell: they are evaluated
    assert seen["env"]["CONDA_ENV_FAKE"] == "thesis"
    assert site["modules"].read_text() == "load cuda/12\n"
    created = [p for p in [*pwned, tmp / "pwned-name", tmp / "tick"] if p.exists()]
    assert created == []


def test_job_script_stops_when_a_setup_line_fails(site: dict[str, Any]) -> None:
    sweep = site["tmp"] / "sweep"
    (sweep / "submit").mkdir(parents=True)
    profile = make_profile("broken", {"setup": ["false"]})
    script = write_job_script(sweep / "submit", render_job_script(profile, site["python"], sweep))
    done = subprocess.run(
        ["bash", str(script), "0"], env=site["env"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert done.stdout == ""  # the interpreter never ran (set -e)


def test_sbatch_script_runs_job_script_for_its_task(site: dict[str, Any]) -> None:
    """The rendered sbatch file run by bash as Slurm would run it for task 3 of array 10."""
    tmp: Path = site["tmp"]
    sweep = tmp / "out dir" / "sweep 'single' $(touch pwned-name)"  # no `"` or `%` (Slurm)
    check_submit_path(sweep, SlurmBackend.forbidden_in_paths)
    submit = sweep / "submit"
    submit.mkdir(parents=True)
    profile, pwned = _site_profile(tmp, "slurm")
    job = write_job_script(submit, render_job_script(profile, site["python"], sweep))
    sbatch = submit / "sweep-1.sbatch"
    sbatch.write_text(slurm.render_sbatch(sweep.name, submit, job, [3], profile, None))

    seen = _run(
        ["bash", str(sbatch)], site, {"SLURM_ARRAY_JOB_ID": "10", "SLURM_ARRAY_TASK_ID": "3"}
    )

    assert seen["argv"][-4:] == ["--sweep-dir", str(sweep), "--job", "3"]
    assert seen["env"]["THESIS_SWEEP_SCHEDULER_ID"] == "10_3"
    assert seen["env"]["HOSTILE"] == profile.env["HOSTILE"]
    assert not any(p.exists() for p in [*pwned, tmp / "pwned-name"])


# --- profiles -----------------------------------------------------------------------------------


def test_make_profile_full() -> None:
    profile = make_profile(
        "a100", {**FULL_TABLE, "backend": "slurm", "extra": ["--constraint=a100"]}
    )
    assert profile == Profile(
        name="a100",
        backend="slurm",
        cpus=8,
        memory="32G",
        gpus=2,
        time="1-12:00:00",
        partition="gpu-a100",
        account="thesis-lab",
        max_parallel=4,
        python="/home/alice/my envs/thesis/bin/python",
        setup=("module load cuda/12", "source ~/miniconda3/bin/activate thesis"),
        env={"WANDB_MODE": "offline", "HOSTILE": HOSTILE, "EMPTY": ""},
        extra=("--constraint=a100",),
    )


def test_make_profile_empty_is_default() -> None:
    assert make_profile("p", {}) == Profile(name="p")


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        pytest.param({"memory": " 4096M "}, {"memory": "4G"}, id="memory-stripped"),
        pytest.param({"memory": "4g"}, {"memory": "4G"}, id="memory-lowercase"),
        pytest.param({"memory": "16GB"}, {"memory": "16G"}, id="memory-GB"),
        pytest.param({"memory": "16 GB"}, {"memory": "16G"}, id="memory-spaced"),
        pytest.param({"memory": "16G"}, {"memory": "16G"}, id="memory-G"),
        pytest.param({"memory": "16384M"}, {"memory": "16G"}, id="memory-M"),
        pytest.param({"memory": "16384"}, {"memory": "16G"}, id="memory-megabytes"),
        pytest.param({"memory": 16384}, {"memory": "16G"}, id="memory-number"),
        pytest.param({"memory": "1.5GiB"}, {"memory": "1536M"}, id="memory-fraction"),
        pytest.param({"memory": "1500 mb"}, {"memory": "1500M"}, id="memory-mb"),
        pytest.param(
            {"setup": ["if true; then\n  module load x\nfi"]},
            {"setup": ("if true; then\n  module load x\nfi",)},
            id="setup-block",
        ),
        pytest.param(
            {"teardown": 'echo "exit $?"'}, {"teardown": ('echo "exit $?"',)}, id="teardown"
        ),
        pytest.param({"logs": "/data/me/logs"}, {"logs": "/data/me/logs"}, id="logs"),
        pytest.param({"time": "30"}, {"time": "30"}, id="time-minutes"),
        pytest.param({"time": "1-00:00:00"}, {"time": "1-00:00:00"}, id="time-days"),
        pytest.param({"setup": "module load x"}, {"setup": ("module load x",)}, id="setup-str"),
        pytest.param({"env": {"N": 3}}, {"env": {"N": "3"}}, id="env-value-str"),
        pytest.param(
            {"partition": "gpu_a100.x@y+z-1"}, {"partition": "gpu_a100.x@y+z-1"}, id="name"
        ),
    ],
)
def test_make_profile_accepts(table: dict[str, Any], expected: dict[str, Any]) -> None:
    profile = make_profile("p", table)
    for key, value in expected.items():
        assert getattr(profile, key) == value


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param({"cpus": 0}, "cpus must be a positive whole number, not 0", id="cpus-0"),
        pytest.param({"cpus": "2"}, "cpus must be a positive whole number, not '2'", id="cpus-str"),
        pytest.param({"cpus": True}, "not True", id="cpus-bool"),
        pytest.param({"gpus": -1}, "gpus must be a positive", id="gpus-negative"),
        pytest.param({"max_parallel": 1.5}, "max_parallel must be a positive", id="max-float"),
        pytest.param({"memory": "lots"}, "invalid memory 'lots' (e.g. 16GB", id="memory-lots"),
        pytest.param({"memory": "16B"}, "invalid memory '16B'", id="memory-bytes"),
        pytest.param({"logs": "logs"}, "logs must be an absolute folder", id="logs-relative"),
        pytest.param({"time": "1h"}, "invalid time '1h' (e.g. 02:00:00", id="time-1h"),
        pytest.param({"partition": "a b"}, "invalid partition 'a b'", id="partition-space"),
        pytest.param({"account": "-x"}, "invalid account '-x'", id="account-dash"),
        pytest.param({"backend": "pbs"}, "backend must be one of local, slurm, htcondor", id="pbs"),
        pytest.param({"env": {"1X": "v"}}, "env must map variable names to values", id="env-1X"),
        pytest.param({"env": ["A=1"]}, "env must map variable names", id="env-list"),
        pytest.param({"setup": 5}, "setup must be a list of strings", id="setup-int"),
        pytest.param({"setup": {"a": "b"}}, "setup must be a list of strings", id="setup-table"),
        pytest.param({"setup": ["ok", 3]}, "setup must be a list of strings", id="setup-mixed"),
        pytest.param(
            {"extra": ["a\nb"]}, "each extra entry must be one line", id="extra-multiline"
        ),
    ],
)
def test_make_profile_rejects(table: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput) as info:
        make_profile("gpu", table)
    text = str(info.value)
    assert text.startswith("profile 'gpu': ")
    assert message in text


def test_make_profile_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(BadInput) as info:
        make_profile("gpu", {"cpu": 4, "mem": "4G"})
    text = str(info.value)
    assert "unknown key(s) cpu, mem" in text
    valid = text.split("valid: ", 1)[1].split(", ")
    assert valid == sorted(
        [
            "account",
            "backend",
            "checkpoint_exit_code",
            "cpus",
            "env",
            "extra",
            "gpus",
            "gpus_per_job",
            "jobs_per_gpu",
            "logs",
            "max_parallel",
            "memory",
            "partition",
            "python",
            "setup",
            "site",
            "success",
            "teardown",
            "time",
        ]
    )


PROFILES = {"a100": {"backend": "slurm", "cpus": 4}, "pool": {"backend": "htcondor"}}


@pytest.mark.parametrize(
    ("wanted", "flag", "backend", "name"),
    [
        pytest.param(None, None, "local", "default", id="no-profile"),
        pytest.param(None, "slurm", "slurm", "default", id="flag-only"),
        pytest.param("a100", None, "slurm", "a100", id="profile-backend"),
        pytest.param("a100", "htcondor", "htcondor", "a100", id="flag-overrides-profile"),
        pytest.param("pool", "local", "local", "pool", id="flag-local-overrides"),
    ],
)
def test_choose(wanted: str | None, flag: str | None, backend: str, name: str) -> None:
    profile = choose(PROFILES, wanted, flag)
    assert (profile.backend, profile.name) == (backend, name)
    if wanted == "a100":
        assert profile.cpus == 4  # the override keeps the rest of the profile


@pytest.mark.parametrize(
    ("profiles", "wanted", "flag", "message"),
    [
        pytest.param(
            PROFILES, "h100", None, "unknown profile 'h100' (profiles: a100, pool)", id="unknown"
        ),
        pytest.param({}, "h100", None, "(profiles: none defined)", id="none-defined"),
        pytest.param(
            PROFILES, None, "pbs", "unknown backend 'pbs'; choose from: local", id="bad-flag"
        ),
        pytest.param(
            {"bad": {"cpus": 0}}, "bad", None, "profile 'bad': cpus", id="invalid-profile"
        ),
    ],
)
def test_choose_rejects(
    profiles: dict[str, Any], wanted: str | None, flag: str | None, message: str
) -> None:
    with pytest.raises(BadInput) as info:
        choose(profiles, wanted, flag)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param(Profile(), id="default"),
        pytest.param(SLURM_FULL, id="full-slurm"),
        pytest.param(CONDOR_FULL, id="full-htcondor"),
    ],
)
def test_profile_json_round_trip(profile: Profile) -> None:
    data = json.loads(json.dumps(profile.as_json()))  # as stored in runs_index.json
    assert Profile.from_json(data, "ignored") == profile
    assert Profile.from_json(profile.as_json(), "ignored") == profile


@pytest.mark.parametrize("data", [None, {}], ids=["none", "empty"])
def test_profile_from_json_old_index(data: dict[str, Any] | None) -> None:
    assert Profile.from_json(data, "slurm") == Profile(backend="slurm")


def test_checkpoint_exit_code_goes_into_the_submit_file_and_the_job_script() -> None:
    profile = make_profile("ck", {"backend": "htcondor", "checkpoint_exit_code": 85})
    assert "checkpoint_exit_code = 85\n" in submit_text(profile, SWEEP)
    assert "export THESIS_SWEEP_CHECKPOINT_EXIT_CODE=85\n" in job_text(profile, SWEEP)
    with pytest.raises(BadInput, match="HTCondor's"):
        make_profile("ck", {"backend": "slurm", "checkpoint_exit_code": 85})


@pytest.mark.parametrize(
    ("spec", "current", "expected"),
    [
        pytest.param("x2", "4G", "8G", id="double"),
        pytest.param("x1.5", "1000M", "1500M", id="factor"),
        pytest.param("8G", None, "8G", id="amount"),
        pytest.param("x2", "200", "400M", id="plain-megabytes"),
    ],
)
def test_more_memory(spec: str, current: str | None, expected: str) -> None:
    from sweeper_cli.project.resources import more_memory

    assert more_memory(spec, current) == expected


@pytest.mark.parametrize(
    ("spec", "current", "expected"),
    [
        pytest.param("2h", None, "02:00:00", id="hours"),
        pytest.param("90m", None, "01:30:00", id="minutes"),
        pytest.param("1d12h", None, "1-12:00:00", id="days-hours"),
        pytest.param("x2", "00:01:00", "00:02:00", id="double"),
        pytest.param("1-00:00:00", None, "1-00:00:00", id="slurm-form"),
    ],
)
def test_more_time(spec: str, current: str | None, expected: str) -> None:
    from sweeper_cli.project.resources import more_time

    assert more_time(spec, current) == expected


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        pytest.param("more_memory", ("x2", None), "no memory", id="factor-of-nothing"),
        pytest.param("more_memory", ("lots", "1G"), "--memory: invalid memory", id="memory-word"),
        pytest.param("more_time", ("soon", None), "invalid --time", id="time-word"),
        pytest.param("more_time", ("x2", None), "no time limit", id="time-factor-of-nothing"),
    ],
)
def test_more_resources_refuses(name: str, args: tuple[str, str | None], message: str) -> None:
    from sweeper_cli.project import resources

    with pytest.raises(BadInput, match=message):
        getattr(resources, name)(*args)
