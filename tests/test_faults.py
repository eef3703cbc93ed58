"""The truth under faults, with real processes: races between commands, killed or failing
runners, damaged files, full and read-only file systems, signals, limits.

The disk cases need root (a small tmpfs, a read-only bind mount); without it they skip
and say so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project, raw_status

SLOW = ["trainer.epochs=40", "trainer.sleep=0.25"]  # ~10 s unless stopped
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def states(project: Project, *args: str) -> list[str]:
    return [j["state"] for j in project.status(*args)["jobs"]]


def app_pids(project: Project) -> list[int]:
    """The example app's processes of this project, seen in /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(cmdline).decode(errors="replace")
        if "thesis_ml.train" in text and str(project.outputs) in text:
            found.append(int(entry))
    return found


class Sampler:
    """Counts the project's running apps every 20 ms in a thread; keeps the maximum."""

    def __init__(self, project: Project) -> None:
        self.project, self.most, self._stop = project, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, len(app_pids(self.project)))
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# --- races between commands ---------------------------------------------------------------


def test_status_in_a_loop_never_disturbs_a_resume(project: Project) -> None:
    """A sweep whose orchestrator was kill -9'd right after creation, resumed, while other
    shells poll status: every poll says 'still going' (4) until the end, then 0."""
    run = project.popen("run", "seed=range(12)", "trainer.epochs=1", "trainer.sleep=0.3")
    project.wait_until(lambda jobs: len(jobs) == 12)
    run.kill()
    run.wait()
    project.wait_until(lambda jobs: not any(j["state"] == "running" for j in jobs))
    resume = project.popen("resume", "-j", "1")
    launcher = project.sweeps()[0] / ".launcher.json"  # the killed run's is still there

    def resume_has_the_sweep() -> bool:
        with contextlib.suppress(OSError, ValueError):
            return bool(json.loads(launcher.read_text())["pid"] == resume.pid)
        return False

    while not resume_has_the_sweep() and resume.poll() is None:
        time.sleep(0.01)
    codes: list[int] = []
    while resume.poll() is None:
        codes.append(project.cli("status", "--json").returncode)
    assert resume.returncode == 0, resume.communicate()
    assert codes and set(codes) <= {4, 0}, codes
    assert codes == sorted(codes, key=lambda code: code == 0)  # 0 only once all is done
    done = project.status()
    assert [j["state"] for j in done["jobs"]] == ["succeeded"] * 12
    assert project.cli("status").returncode == 0


def test_a_job_cancelled_before_it_started_is_never_announced_as_started(
    project: Project,
) -> None:
    run = project.popen("run", "-j", "1", "seed=0,1,2", "trainer.epochs=12", "trainer.sleep=0.25")
    project.wait_until(lambda jobs: jobs[0]["state"] == "running")
    assert project.cli("cancel", project.sweeps()[0].name, "2").returncode == 0
    _, err = run.communicate(timeout=60)
    assert "job 2 started" not in err
    assert "job 2 cancelled" in err and "cancelled by the user" in err
    assert states(project) == ["succeeded", "succeeded", "cancelled"]
    job = project.status()["jobs"][2]
    assert job["attempts"] == 0 and not (Path(job["run_dir"]) / ".sweep" / "output.log").exists()


# --- killed or failing runners --------------------------------------------------------------


def test_kill_9_of_a_runner_stops_its_app_and_the_pool_holds(project: Project) -> None:
    with Sampler(project) as sampler:
        run = project.popen(
            "run", "-j", "2", "seed=0,1,2", "trainer.epochs=12", "trainer.sleep=0.25"
        )
        jobs = project.wait_until(lambda jobs: jobs[0]["state"] == "running")
        record = raw_status(Path(jobs[0]["run_dir"]))
        os.kill(record["runner_pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while record["pid"] in app_pids(project) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record["pid"] not in app_pids(project)  # the app died with its runner
        _, err = run.communicate(timeout=90)
    assert sampler.most <= 2  # never a third app under -j 2
    assert run.returncode == 1
    assert "job 0 lost" in err and "its runner was killed (SIGKILL)" in err
    jobs = project.status()["jobs"]
    assert [j["state"] for j in jobs] == ["lost", "succeeded", "succeeded"]
    table = project.cli("status").stdout
    assert "gone without recording an end" in table  # the reason, not a log line
    assert project.cli("resume").returncode == 0
    assert [j["attempts"] for j in project.status()["jobs"]] == [2, 1, 1]
    assert states(project) == ["succeeded"] * 3


def _venv_without_thesis_sweep(where: Path) -> Path:
    """An interpreter that has the app's packages (hydra, numpy) but not thesis-sweep."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hydra, os; print(os.path.dirname(os.path.dirname(hydra.__file__)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A .pth line adds the packages' folder; .pth files inside it (the editable install of
    # thesis-sweep) are not processed, so thesis-sweep stays out.
    (Path(site) / "app_packages.pth").write_text(ours + "\n")
    probe = subprocess.run([str(python), "-c", "import sweeper_cli"], capture_output=True)
    assert probe.returncode != 0, "the test venv must not see thesis-sweep"
    subprocess.run([str(python), "-c", "import hydra, numpy"], check=True)
    return python


def test_jobs_run_under_an_interpreter_without_thesis_sweep(
    project: Project, tmp_path: Path
) -> None:
    python = _venv_without_thesis_sweep(tmp_path / "appenv")
    done = project.cli(
        "run", "seed=0,1", "trainer.epochs=1", env={"THESIS_SWEEP_PYTHON": str(python)}
    )
    assert done.returncode == 0, done.stderr
    for job in project.status()["jobs"]:
        spec = json.loads((Path(job["run_dir"]) / ".sweep" / "job.json").read_text())
        assert spec["argv"][0] == str(python) and job["state"] == "succeeded"


def test_a_python_setting_that_does_not_exist_is_refused_before_writing(
    project: Project,
) -> None:
    done = project.cli("run", "seed=0", env={"THESIS_SWEEP_PYTHON": "/no/such/python"})
    assert done.returncode == 2 and "/no/such/python" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not project.outputs.exists()


# --- damaged files --------------------------------------------------------------------------


def test_malformed_fields_make_one_job_lost_and_everything_else_works(
    project: Project,
) -> None:
    project.cli("run", "seed=0,1,2,3", "trainer.epochs=1", check=0)
    jobs = project.status()["jobs"]
    [sweep] = project.sweeps()
    for num, patch in ((0, {"attempt": "x"}), (1, {"start": "yesterday"})):
        path = Path(jobs[num]["run_dir"]) / ".sweep" / "status.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **patch}))
    index = json.loads((sweep / "runs_index.json").read_text())
    del index["jobs"][2]["run_dir"]  # the runptr still says where job 2 lives
    (sweep / "runs_index.json").write_text(json.dumps(index))
    # A second, damaged sweep must not break the first one's commands.
    time.sleep(1.1)
    project.cli("run", "seed=9", "trainer.epochs=1", check=0)
    broken = project.sweeps()[1]
    doc = json.loads((broken / "runs_index.json").read_text())
    doc["sweep"]["backend"] = 5
    (broken / "runs_index.json").write_text(json.dumps(doc))

    done = project.cli("status", "--json", sweep.name)
    assert done.returncode == 1, done.stderr
    reasons = [(j["state"], j["reason"]) for j in json.loads(done.stdout)["jobs"]]
    assert reasons == [
        ("lost", "status.json has a bad 'attempt' ('x')"),
        ("lost", "status.json has a bad 'start' ('yesterday')"),
        ("succeeded", None),
        ("succeeded", None),
    ]
    listed = json.loads(project.cli("list", "--json", check=0).stdout)["sweeps"]
    assert [("error" in row) for row in listed] == [True, False]
    assert "unknown backend 5" in listed[0]["error"]
    assert project.cli("compare", "--json", sweep.name).returncode == 0
    assert project.cli("status", broken.name).returncode == 2  # one clear line
    assert project.cli("cancel", sweep.name).returncode == 0
    resumed = project.cli("resume", sweep.name)
    assert resumed.returncode == 0, resumed.stderr
    assert states(project, sweep.name) == ["succeeded"] * 4


def test_a_deleted_run_dir_and_a_lost_job_json_are_rebuilt_by_resume(project: Project) -> None:
    config = project.root / "configs" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("fail_at_epoch: null", "fail_at_epoch: 1"))
    project.cli("run", "seed=0,1,2", "trainer.epochs=1", check=1)
    config.write_text(config.read_text().replace("fail_at_epoch: 1", "fail_at_epoch: null"))
    jobs = project.status()["jobs"]
    shutil.rmtree(jobs[0]["run_dir"])
    (Path(jobs[1]["run_dir"]) / ".sweep" / "job.json").unlink()
    assert next((j["state"], j["reason"]) for j in project.status()["jobs"]) == (
        "lost",
        "run dir is missing",
    )
    done = project.cli("resume")
    assert done.returncode == 0, done.stderr
    assert "job 0: rebuilt its run dir" in done.stderr
    assert "job 1: rebuilt its job.json" in done.stderr
    assert states(project) == ["succeeded"] * 3
    assert (Path(jobs[0]["run_dir"]) / ".hydra").is_dir()


def test_a_creation_killed_midway_is_visible_finishable_and_removable(project: Project) -> None:
    run = project.popen("run", "seed=range(3000)", "--no-validate")
    deadline = time.monotonic() + 60
    index = None
    while time.monotonic() < deadline:
        found = list((project.outputs / "multiruns").glob("*/runs_index.json"))
        if found and len(list((project.outputs / "runs").iterdir())) > 20:
            index = found[0]
            break
        time.sleep(0.01)
    run.kill()
    run.wait()
    assert index is not None, "the creation was never seen"
    sweep = index.parent
    if (sweep / "multirun.yaml").exists():
        pytest.skip("the creation finished before the kill landed")
    listed = project.cli("list")
    assert "creation interrupted" in listed.stdout, listed.stdout
    jobs = project.status(sweep.name)["jobs"]
    assert len(jobs) == 3000
    assert "creation was interrupted" in jobs[-1]["reason"]
    done = project.cli("resume", sweep.name, "--only", "2998,2999", timeout=300)
    assert done.returncode == 1, done.stderr  # the other jobs remain undone
    assert "completed the interrupted creation" in done.stderr
    assert (sweep / "multirun.yaml").is_file()
    assert states(project, sweep.name)[-2:] == ["succeeded", "succeeded"]
    refused = project.cli("remove", sweep.name)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert project.cli("remove", sweep.name, "--yes").returncode == 0
    assert not sweep.exists() and list((project.outputs / "runs").iterdir()) == []


# --- disks ------------------------------------------------------------------------------------


@contextlib.contextmanager
def mounted(kind: str, target: Path, *options: str) -> Iterator[Path]:
    if not IS_ROOT:
        pytest.skip(f"mounting a {kind} needs root")
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *options, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_a_full_disk_gives_clear_answers_and_resume_finishes(
    project: Project, tmp_path: Path
) -> None:
    with mounted("tmpfs", tmp_path / "small", "-t", "tmpfs", "-o", "size=24m", "tmpfs") as disk:
        root = disk / "out"
        run = project.popen(
            "run", "--output-root", str(root), "seed=0,1", "trainer.epochs=12", "trainer.sleep=0.3"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if list(root.glob("runs/*/.sweep/status.json")) and any(
                raw_status(d.parent.parent)["state"] == "running"
                for d in root.glob("runs/*/.sweep/status.json")
            ):
                break
            time.sleep(0.1)
        filler = fill(disk)
        _, err = run.communicate(timeout=120)
        assert "internal error" not in err and "Traceback" not in err, err
        assert run.returncode == 1, err
        status = project.cli("status", "--json", "--output-root", str(root))
        assert status.returncode == 1, status.stderr
        jobs = json.loads(status.stdout)["jobs"]
        assert all(j["state"] in ("failed", "lost") for j in jobs), jobs
        assert project.cli("list", "--output-root", str(root)).returncode == 0
        refused = project.cli("run", "--output-root", str(root), "seed=5")
        assert refused.returncode == 3 and "No space left on device" in refused.stderr
        assert "internal error" not in refused.stderr
        assert len(list((root / "multiruns").iterdir())) == 1  # the refused one left nothing
        filler.unlink()
        resumed = project.cli("resume", "--output-root", str(root), timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        final = json.loads(project.cli("status", "--json", "--output-root", str(root)).stdout)
        assert [j["state"] for j in final["jobs"]] == ["succeeded", "succeeded"]


def test_reading_commands_work_on_a_read_only_root_and_writing_ones_say_why(
    project: Project, tmp_path: Path
) -> None:
    project.cli("run", "seed=0,1", "trainer.epochs=1", check=0)
    with mounted("read-only bind mount", tmp_path / "ro", "--bind", str(project.outputs)) as ro:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        root = ["--output-root", str(ro)]
        index_before = (ro / "multiruns").iterdir().__next__() / "runs_index.json"
        before = index_before.read_bytes()
        assert project.cli("status", *root).returncode == 0
        assert project.cli("status", "--json", *root).returncode == 0
        assert project.cli("list", *root).returncode == 0
        assert project.cli("compare", *root).returncode == 0
        assert project.cli("logs", project.sweeps()[0].name, "0", *root).returncode == 0
        assert project.cli("cancel", *root).returncode == 0  # nothing to cancel, nothing written
        resume = project.cli("resume", "--only", "0", *root)
        assert resume.returncode == 0 and "skipped, succeeded" in resume.stderr
        run = project.cli("run", "seed=3", *root)
        assert run.returncode == 2 and "not writable" in run.stderr
        removed = project.cli("remove", "--yes", *root)
        assert removed.returncode == 2 and "not writable" in removed.stderr
        assert index_before.read_bytes() == before


def test_cancel_on_a_read_only_mount_says_why(project: Project, tmp_path: Path) -> None:
    run = project.popen("run", "seed=0", *SLOW)
    project.wait_until(lambda jobs: jobs[0]["state"] == "running")
    try:
        with mounted("read-only bind mount", tmp_path / "ro", "--bind", str(project.outputs)) as ro:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
            done = project.cli("cancel", "--output-root", str(ro))
            assert done.returncode == 2, done.stderr
            assert "cannot cancel job 0" in done.stderr and "not writable" in done.stderr
    finally:
        project.cli("cancel", check=0)
        run.communicate(timeout=60)


# --- signals and limits ----------------------------------------------------------------------


def test_sigterm_to_the_orchestrator_stops_the_sweep_like_ctrl_c(project: Project) -> None:
    run = project.popen(
        "run", "-j", "2", "seed=0,1,2", *SLOW, env={**os.environ, "THESIS_SWEEP_GRACE": "5"}
    )
    project.wait_until(lambda jobs: [j["state"] for j in jobs].count("running") == 2)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    assert "terminated" in err
    jobs = project.status()["jobs"]
    assert [j["state"] for j in jobs] == ["cancelled"] * 3
    assert "SIGTERM" in jobs[0]["reason"] and "not started" in jobs[2]["reason"]
    assert app_pids(project) == []


def test_a_huge_grid_is_refused_at_once(project: Project) -> None:
    started = time.monotonic()
    done = project.cli("run", "seed=range(100000)", "trainer.lr=range(100000)", timeout=30)
    assert done.returncode == 2
    assert "10,000,000,000 jobs" in done.stderr and "--max-jobs" in done.stderr
    assert time.monotonic() - started < 20  # counted, not expanded
    assert not project.outputs.exists()
    small = project.cli("run", "--max-jobs", "3", "seed=range(4)")
    assert small.returncode == 2 and "limit of 3" in small.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(["seed=range(0)"], "no jobs", id="empty-range"),
        pytest.param(
            ["--backend", "slurm", "--max-parallel", "0", "seed=1"],
            "--max-parallel",
            id="max-parallel-0",
        ),
        pytest.param(
            ["--backend", "slurm", "--output-root", "/tmp/a%b", "seed=1"], "'%'", id="slurm-percent"
        ),
        pytest.param(
            ["--backend", "slurm", "--output-root", '/tmp/a"b', "seed=1"], "'\"'", id="slurm-quote"
        ),
        pytest.param(
            ["--backend", "htcondor", "--output-root", "/tmp/a$(x)", "seed=1"],
            "'$'",
            id="condor-macro",
        ),
        pytest.param(
            ["--backend", "htcondor", "--output-root", "/tmp/$ENV(HOME)", "seed=1"],
            "'$'",
            id="condor-env",
        ),
        pytest.param(["--output-root", "/tmp/a\nb", "seed=1"], "line break", id="newline"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    project: Project, args: list[str], needle: str
) -> None:
    done = project.cli("run", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("thesis-sweep: error:") and needle in done.stderr
    assert not project.outputs.exists()
    for path in ("/tmp/a%b", '/tmp/a"b', "/tmp/a$(x)", "/tmp/$ENV(HOME)"):
        assert not Path(path).exists()


def test_unknown_commands_and_bad_values_are_one_line(project: Project) -> None:
    for args in (["stauts"], ["status", "--interval", "x"], ["list", "--bogus"]):
        done = project.cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("thesis-sweep: error:")
    assert project.cli("stauts").stderr.count("Did you mean 'status'?") == 1
    dry = project.cli("run", "--dryrun", "seed=1")
    assert dry.returncode == 2 and "did you mean --dry-run?" in dry.stderr
