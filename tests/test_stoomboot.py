"""Stoomboot as its users submit: a site profile written by `init --profile stoomboot`, the
site's rules checked, extra lines that would redefine thesis-sweep's own refused, memory
as users write it, scheduler logs where the user wants them, teardown blocks after the
app, and `run --dry-run` showing the files it would write (golden files, real CLI runs,
the real HTCondor pool and Slurm cluster)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import tomllib

from conftest import Project, add_profile, require_scheduler, wait_jobs
from sweeper_cli.errors import BadInput
from sweeper_cli.launch.backends import htcondor
from sweeper_cli.launch.backends.htcondor import HTCondorBackend
from sweeper_cli.project import sites
from sweeper_cli.project.profiles import make_profile
from sweeper_cli.project.submit_lines import HTCONDOR_OWNED, SLURM_OWNED
from test_scheduler_files import check_golden

SWEEP = Path("/data/atlas/users/alice/thesis/outputs/multiruns/exp_20261201-090000_ch6")
PYTHON = "/data/atlas/users/alice/venvs/thesis-ml/bin/python"
# The thesis user's own submission, as a profile (README: Recipe: Stoomboot).
THESIS_PROFILE: dict[str, Any] = {
    "site": "stoomboot",
    "backend": "htcondor",
    "python": PYTHON,
    "cpus": 1,
    "memory": "16GB",
    "gpus": 1,
    "time": "96:00:00",
    "logs": "/data/atlas/users/alice/logs/stdout",
    "setup": [
        "ulimit -n 8192 2>/dev/null || true",
        'eval "$(conda shell.bash hook)"',
        "conda activate /data/atlas/users/alice/venvs/thesis-ml",
        'if [ -n "$TMPDIR" ]; then\n  export WANDB_DIR="$TMPDIR/wandb"\nfi',
    ],
    "teardown": ['echo "exit code $THESIS_SWEEP_EXIT_CODE at $(date)"'],
    "env": {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"},
    "extra": [
        '+UseOS = "el9"',
        '+JobCategory = "long"',
        "should_transfer_files = NO",
        "requirements = (CUDAGlobalMemoryMb >= 16000)",
    ],
}


def _thesis_files() -> tuple[str, str]:
    profile = make_profile("stoomboot", THESIS_PROFILE)
    backend = HTCondorBackend(profile, python=PYTHON)
    files = backend.preview(SWEEP, [0, 1, 2])
    return files["sweep-1.sub"], files["job.sh"]


def test_golden_stoomboot_submit_file_and_job_script() -> None:
    submit, job = _thesis_files()
    check_golden("stoomboot.sub.txt", submit)
    check_golden("stoomboot_job.sh.txt", job)


def test_the_thesis_profile_passes_the_sites_rules() -> None:
    profile = make_profile("stoomboot", THESIS_PROFILE)
    site = sites.load("stoomboot")
    assert sites.warnings(site, profile.extra, profile.time, profile.gpus) == []
    assert profile.memory == "16G"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"extra": ['+JobCategory = "gpu"', '+UseOS = "el9"', "should_transfer_files = NO"]},
            "'gpu' is not a documented category: express (00:10:00), short (04:00:00), "
            "medium (1-00:00:00), long (4-00:00:00)",
            id="unknown-category",
        ),
        pytest.param(
            {"time": "5-00:00:00"},
            "time 5-00:00:00 is longer than +JobCategory 'long' allows (4-00:00:00)",
            id="time-too-long",
        ),
        pytest.param(
            {"time": "12:00:00", "extra": ['+UseOS = "el9"', "should_transfer_files = NO"]},
            "no +JobCategory: add '+JobCategory = \"medium\"'",
            id="no-category-chosen-from-time",
        ),
        pytest.param(
            {"extra": ['+JobCategory = "long"', "should_transfer_files = NO"]},
            "no OS chosen: add '+UseOS = \"el9\"' (el7, el8, el9) (or +SingularityImage)",
            id="no-os",
        ),
        pytest.param(
            {"extra": ['+UseOS = "el6"', '+JobCategory = "long"', "should_transfer_files = NO"]},
            "+UseOS = 'el6' is not one of el7, el8, el9",
            id="unknown-os",
        ),
        pytest.param(
            {"extra": ['+UseOS = "el9"', '+JobCategory = "long"']},
            "add 'should_transfer_files = NO'",
            id="file-transfer",
        ),
        pytest.param(
            {
                "extra": [
                    '+SingularityImage = "/cvmfs/x.sif"',
                    '+JobCategory = "long"',
                    "should_transfer_files = NO",
                    "getenv = True",
                ]
            },
            "getenv = True together with +SingularityImage breaks",
            id="getenv-with-image",
        ),
    ],
)
def test_site_warnings_name_the_documented_values(change: dict[str, Any], expected: str) -> None:
    profile = make_profile("stoomboot", {**THESIS_PROFILE, **change})
    said = sites.warnings(sites.load("stoomboot"), profile.extra, profile.time, profile.gpus)
    assert len(said) == 1 and expected in said[0], said
    assert said[0].startswith("Nikhef Stoomboot (HTCondor): ")


@pytest.mark.parametrize(("backend", "key"), [("htcondor", k) for k in HTCONDOR_OWNED])
def test_htcondor_extra_lines_that_redefine_ours_are_refused(backend: str, key: str) -> None:
    line = f"{key} 3" if key == "queue" else f"{key} = x"
    with pytest.raises(BadInput) as info:
        make_profile("p", {"backend": backend, "extra": ['+JobCategory = "long"', line]})
    assert f"the extra line {line!r} sets {key}" in str(info.value)
    assert HTCONDOR_OWNED[key] in str(info.value)


@pytest.mark.parametrize("flag", list(SLURM_OWNED))
def test_slurm_extra_options_that_redefine_ours_are_refused(flag: str) -> None:
    value = "gpu:2" if flag == "--gres" else "x"
    line = f"{flag}={value}" if flag.startswith("--") else f"{flag} {value}"
    for written in (line, f"#SBATCH {line}"):
        with pytest.raises(BadInput, match="thesis-sweep owns"):
            make_profile("p", {"backend": "slurm", "extra": ["--constraint=a100", written]})


def test_site_lines_are_accepted() -> None:
    make_profile("p", {"backend": "slurm", "extra": ["--gres=nvme:1", "--requeue", "-C a100"]})
    make_profile("p", {"backend": "htcondor", "extra": ["universe = container", "getenv = True"]})


def test_a_refused_extra_line_is_exit_2_and_writes_nothing(project: Project) -> None:
    add_profile(project, "bad", "backend = \"htcondor\"\nextra = ['log = /tmp/my.log']")
    done = project.cli("run", "--profile", "bad", "--dry-run", "seed=0")
    assert done.returncode == 2
    assert "the extra line 'log = /tmp/my.log' sets log" in done.stderr
    assert "`status` reads that event log" in done.stderr
    assert not project.outputs.exists()


def test_init_writes_a_profile_that_passes_its_own_checks(project: Project) -> None:
    before = (project.root / "pyproject.toml").read_text()
    done = project.cli(
        "init", "--profile", "stoomboot", "--time", "96:00:00", "--gpus", "1", "--python", PYTHON
    )
    assert done.returncode == 0, done.stderr
    text = (project.root / "pyproject.toml").read_text()
    assert text.startswith(before)  # every other byte kept
    block = text[len(before) :].lstrip("\n")
    check_golden("stoomboot_init.toml.txt", block)
    table = tomllib.loads(text)["tool"]["thesis-sweep"]["profiles"]["stoomboot"]
    profile = make_profile("stoomboot", table)
    assert '+JobCategory = "long"' in profile.extra and profile.gpus == 1
    again = project.cli("init", "--profile", "stoomboot")
    assert again.returncode == 2 and "exists already" in again.stderr
    short = project.cli("init", "--profile", "stoomboot", "--time", "2h", "--force")
    assert short.returncode == 0, short.stderr
    assert '+JobCategory = "short"' in short.stdout
    unknown = project.cli("init", "--profile", "lisa")
    assert (
        unknown.returncode == 2 and "unknown site 'lisa' (known sites: stoomboot)" in unknown.stderr
    )


@pytest.mark.parametrize("backend", ["htcondor", "slurm"])
def test_dry_run_prints_the_files_it_would_write(project: Project, backend: str) -> None:
    add_profile(
        project, "site", f'backend = "{backend}"\nmemory = "16 GB"\nteardown = ["echo done"]'
    )
    done = project.cli("run", "--dry-run", "--profile", "site", "seed=0,1", "trainer.epochs=1")
    assert done.returncode == 0, done.stderr
    assert "note: memory 16 GB -> 16G (16384 MB)" in done.stderr
    script = "sweep-1.sub" if backend == "htcondor" else "sweep-1.sbatch"
    assert f"submit/{script} (not written) ---" in done.stdout
    assert "submit/job.sh (not written) ---" in done.stdout and "\necho done\n" in done.stdout
    assert ("request_memory = 16G" if backend == "htcondor" else "--mem=16G") in done.stdout
    assert not project.outputs.exists()
    doc = json.loads(
        project.cli("run", "--dry-run", "--json", "--profile", "site", "seed=0").stdout
    )
    assert set(doc["files"]) >= {script, "job.sh"}


def test_htcondor_reads_the_environment_line_as_written(tmp_path: Path) -> None:
    """The real pool parses thesis-sweep's `environment` line: each value arrives exactly."""
    require_scheduler("htcondor")
    folder = Path(subprocess.check_output(["mktemp", "-d", "/tmp/ts-env-XXXX"], text=True).strip())
    folder.chmod(0o777)
    env = {
        "HOSTILE": "(touch /tmp/pwned) 'x' \"y\" ;&|`id`",
        "EMPTY": "",
        "SPACES": "a  b ",
        "EQUALS": "a=b c=d",
        "QUOTES": "'\"''\"\"",
        "UNICODE": "héllo ✓",
    }
    line = htcondor.render_environment(env)
    (folder / "probe.sub").write_text(
        f"universe = vanilla\nexecutable = /usr/bin/env\noutput = {folder}/out.txt\n"
        f"error = {folder}/err.txt\nlog = {folder}/events.log\n{line}\nqueue\n"
    )
    (folder / "probe.sub").chmod(0o666)
    done = subprocess.run(
        ["condor_submit", "-terse", "probe.sub"], cwd=folder, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    out = folder / "out.txt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and out.stat().st_size):
        time.sleep(1)
    seen = dict(
        row.split("=", 1) for row in out.read_text(encoding="utf-8").splitlines() if "=" in row
    )
    assert {key: seen.get(key) for key in env} == env
    assert seen["THESIS_SWEEP_SCHEDULER_ID"] == done.stdout.split()[0]


def test_logs_folder_and_teardown_on_a_real_scheduler(cluster: tuple[str, Project]) -> None:
    backend, project = cluster
    logs = project.root.parent / "site logs"
    marker = project.root.parent / "teardown.txt"
    table = (
        f'backend = "{backend}"\nlogs = "{logs}"\n'
        f"setup = ['''if true; then\n  export FROM_SETUP=yes\nfi''']\n"
        'teardown = [\'echo "job $1 exit $THESIS_SWEEP_EXIT_CODE setup $FROM_SETUP" '
        f'>> "{marker}"\']'
    )
    add_profile(project, "site", table)
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    done = project.cli(
        "run", "--profile", "site", "seed=0", "trainer.epochs=1", "--wait", timeout=300
    )
    assert done.returncode == 1, done.stderr
    [job] = project.status()["jobs"]
    assert job["state"] == "failed" and job["exit_code"] == 1
    assert marker.read_text() == "job 0 exit 1 setup yes\n"  # after the app, with its code
    [sweep] = project.sweeps()
    assert not list((sweep / "submit").glob("condor-*")) and not list(
        (sweep / "submit").glob("slurm-*")
    )
    assert job["gpus"] is None  # no GPU asked for (HTCondor's 10000 means none)
    written = sorted(p.name for p in (logs / sweep.name).iterdir())
    assert written and all(name.startswith(("condor-", "slurm-")) for name in written)
    if backend == "htcondor":  # the job's exit code is the app's: HTCondor saw 1
        assert "(return value 1)" in (sweep / "submit" / "events-1.log").read_text()
    shown = project.cli("logs", "--scheduler", "0")
    assert shown.returncode == 0 and str(logs / sweep.name) in shown.stderr


@pytest.mark.parametrize("cluster", ["htcondor"], indirect=True)
def test_cancel_with_teardown_is_still_a_cancel(cluster: tuple[str, Project]) -> None:
    """With teardown the runner is the script's child: HTCondor's SIGTERM is forwarded, so
    the job ends cancelled (not lost) and the teardown still runs. (Slurm's scancel kills
    a batch script at once, teardown or not: documented.)"""
    backend, project = cluster
    marker = project.root.parent / "teardown.txt"
    add_profile(
        project,
        "site",
        f'backend = "{backend}"\n'
        f'teardown = [\'echo "exit $THESIS_SWEEP_EXIT_CODE" >> "{marker}"\']',
    )
    done = project.cli(
        "run", "--profile", "site", "seed=0", "trainer.epochs=60", "trainer.sleep=0.5"
    )
    assert done.returncode == 0, done.stderr
    wait_jobs(project, lambda jobs: jobs[0]["state"] == "running", timeout=180)
    assert project.cli("cancel", timeout=120).returncode == 0
    jobs = wait_jobs(project, lambda jobs: jobs[0]["state"] == "cancelled", timeout=120)
    assert jobs[0]["reason"] == "cancelled by the user"
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert marker.read_text().startswith("exit ")
