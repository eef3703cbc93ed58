"""`thesis-sweep run` end to end: real CLI processes launching the real example app."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Project


def _only(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _log(run_dir: Path) -> str:
    return (run_dir / ".sweep" / "output.log").read_text()


def test_demo_command_gives_the_target_layout(project: Project) -> None:
    done = project.cli("run", "phase1/latent_space=none,vq", "trainer.epochs=2", "env=local")
    assert done.returncode == 0, done.stderr
    [sweep] = project.sweeps()
    assert sweep.name.startswith("exp_") and sweep.name.endswith("_experiment")
    stamp = sweep.name[len("exp_") : -len("_experiment")]
    assert _only(sweep) == {"multirun.yaml", "runs_index.json", "runptrs"}
    assert _only(sweep / "runptrs") == {"0", "1"}
    runs = project.outputs / "runs"
    assert _only(runs) == {f"run_{stamp}_experiment_job0", f"run_{stamp}_experiment_job1"}
    for num in (0, 1):
        run_dir = runs / f"run_{stamp}_experiment_job{num}"
        link = sweep / "runptrs" / str(num)
        assert os.readlink(link) == f"../../../runs/{run_dir.name}"
        assert link.resolve() == run_dir.resolve()
        assert {".hydra", ".sweep", "best_val.pt", "facts", "train_figures"} <= _only(run_dir)
        assert json.loads((run_dir / "facts" / "metrics.json").read_text())["epochs"] == 2
        log = _log(run_dir)
        assert f"cwd={run_dir.resolve()}" in log  # Hydra chdir: the job ran in its run dir
        assert f"THESIS_SWEEP_JOB_NUM={num}" in log
        assert f"THESIS_SWEEP_RUN_DIR={run_dir.resolve()}" in log
        status = json.loads((run_dir / ".sweep" / "status.json").read_text())
        assert status["state"] == "succeeded" and status["exit_code"] == 0
        assert status["attempt"] == 1
    index = json.loads((sweep / "runs_index.json").read_text())
    assert index["schema_version"] == 2
    assert index["sweep"]["name"] == "experiment"
    assert index["sweep"]["overrides"] == [
        "phase1/latent_space=none,vq",
        "trainer.epochs=2",
        "env=local",
    ]
    assert [j["state"] for j in index["jobs"]] == ["succeeded", "succeeded"]
    assert [j["overrides"][0] for j in index["jobs"]] == [
        "phase1/latent_space=none",
        "phase1/latent_space=vq",
    ]
    assert "hydra:" in (sweep / "multirun.yaml").read_text()


def test_multirun_yaml_is_the_composed_multirun_config(project: Project) -> None:
    from omegaconf import OmegaConf

    project.cli("run", "phase1/latent_space=none,vq", "trainer.epochs=1", check=0)
    [sweep] = project.sweeps()
    cfg = OmegaConf.load(sweep / "multirun.yaml")
    assert cfg.hydra.mode == "MULTIRUN"
    assert list(cfg.hydra.overrides.task) == ["phase1/latent_space=none,vq", "trainer.epochs=1"]
    assert cfg.hydra.sweep.dir == str(sweep)


BAD_INPUTS = [
    pytest.param(["phase1/latent_space=nope"], "nope", id="unknown-group-option"),
    pytest.param(["phase1/latent_space=none,nope"], "job 1", id="one-job-fails-to-compose"),
    pytest.param(["trainer.nope=1"], "trainer.nope", id="key-not-in-config"),
    pytest.param(["trainer.lr=(1"], "trainer.lr", id="syntax-error"),
    pytest.param(["trainer.lr=interval(0,1)"], "does not support sweep type", id="interval"),
    pytest.param(["hydra.run.dir=/tmp/x"], "hydra.run.dir", id="run-dir"),
    pytest.param(["hydra.sweep.dir=/tmp/x"], "hydra.sweep", id="sweep-dir"),
    pytest.param(["hydra.sweep.subdir=x"], "hydra.sweep", id="sweep-subdir"),
    pytest.param(["hydra.mode=MULTIRUN"], "hydra.mode", id="mode"),
    pytest.param(["hydra/launcher=basic"], "launcher", id="launcher-group"),
    pytest.param(["--multirun", "seed=1,2"], "multirun", id="multirun-flag"),
    pytest.param(["-m", "seed=1,2"], "multirun", id="m-flag"),
    pytest.param(["hydra.job.chdir=true,false"], "hydra", id="sweeping-hydra-config"),
    pytest.param(["--name", "../escape", "seed=1"], "invalid sweep name", id="name-dotdot"),
    pytest.param(["--name", "a/b", "seed=1"], "invalid sweep name", id="name-separator"),
    pytest.param(["--module", "no_such_pkg.train"], "no_such_pkg.train", id="module-missing"),
    pytest.param(["--command", "no-such-binary-xyz"], "no-such-binary-xyz", id="command-missing"),
    pytest.param(["-cn", "nope"], "nope", id="config-name-missing"),
    pytest.param(["-cd", "missing_dir"], "missing_dir", id="config-dir-missing"),
    pytest.param(["--gpus", "x,y"], "--gpus", id="bad-gpus"),
    pytest.param(["--backend", "nope"], "unknown backend", id="bad-backend"),
    pytest.param(["--output-root", "/proc/version/x"], "not writable", id="unwritable-root"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    project: Project, args: list[str], needle: str
) -> None:
    done = project.cli("run", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("thesis-sweep: error:")
    assert needle in lines[0]
    assert "Traceback" not in done.stderr
    assert not project.outputs.exists()


def test_output_root_with_interpolation_is_refused(project: Project) -> None:
    done = project.cli("run", "--output-root", str(project.root / "out${x}"), "seed=1")
    assert done.returncode == 2
    assert "${" in done.stderr and not (project.root / "out${x}").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(project: Project) -> None:
    doc = project.plan("phase1/latent_space=none,vq", "seed=1,2")
    assert doc["schema_version"] == 1 and doc["name"] == "experiment"
    assert [j["num"] for j in doc["jobs"]] == [0, 1, 2, 3]
    assert doc["jobs"][1]["overrides"] == ["phase1/latent_space=none", "seed=2"]
    assert doc["jobs"][3]["run_dir"].endswith("_experiment_job3")
    assert not project.outputs.exists()
    table = project.cli("run", "--dry-run", "seed=1,2", check=0)
    assert "seed=2" in table.stdout and not project.outputs.exists()


def test_failing_job_is_reported_and_the_rest_continues(project: Project) -> None:
    done = project.cli("run", "trainer.fail_at_epoch=1,null", "trainer.epochs=2")
    assert done.returncode == 1, done.stderr
    doc = project.status()
    assert [(j["state"], j["exit_code"]) for j in doc["jobs"]] == [("failed", 1), ("succeeded", 0)]
    table = project.cli("status", check=1)
    assert "RuntimeError" in table.stdout  # the failure's last meaningful line
    assert "failed" in table.stdout


def test_fail_fast_stops_launching(project: Project) -> None:
    done = project.cli(
        "run", "--fail-fast", "trainer.fail_at_epoch=1,null,null", "trainer.epochs=1"
    )
    assert done.returncode == 1
    states = [j["state"] for j in project.status()["jobs"]]
    assert states == ["failed", "cancelled", "cancelled"]


def test_parallel_jobs_and_gpu_round_robin(project: Project) -> None:
    done = project.cli(
        "run", "-j", "2", "--gpus", "0,1", "seed=0,1,2,3", "trainer.epochs=1", "trainer.sleep=0.3"
    )
    assert done.returncode == 0, done.stderr
    jobs = project.status()["jobs"]
    gpus = [_log(Path(j["run_dir"])).split("CUDA_VISIBLE_DEVICES=")[1].split()[0] for j in jobs]
    assert sorted(gpus) == ["0", "0", "1", "1"]
    starts = sorted(j["start"] for j in jobs)
    ends = sorted(j["end"] for j in jobs)
    assert starts[1] < ends[0]  # two jobs overlapped


def test_hostile_value_stays_inert(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    value = f"$(touch {target}); `touch {target}` && touch {target}"
    done = project.cli("run", f"+note='{value}'", "trainer.epochs=1")
    assert done.returncode == 0, done.stderr
    assert not target.exists()
    run_dir = Path(project.status()["jobs"][0]["run_dir"])
    from omegaconf import OmegaConf

    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").note == value


def test_command_instead_of_module(project: Project) -> None:
    import sys

    done = project.cli(
        "run",
        "--command",
        f"{sys.executable} examples/thesis_ml/train.py",
        "seed=1,2",
        "trainer.epochs=1",
    )
    assert done.returncode == 0, done.stderr
    assert [j["state"] for j in project.status()["jobs"]] == ["succeeded", "succeeded"]


def test_same_second_sweeps_get_their_own_folders(project: Project) -> None:
    procs = [project.popen("run", "seed=1", "trainer.epochs=1") for _ in range(3)]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    sweeps = project.sweeps()
    assert len(sweeps) == 3
    runs = list((project.outputs / "runs").iterdir())
    assert len(runs) == 3
    for sweep in sweeps:
        index = json.loads((sweep / "runs_index.json").read_text())
        assert index["sweep"]["id"] == sweep.name
        assert (sweep / "runptrs" / "0").resolve() == project.outputs / index["jobs"][0]["run_dir"]


def test_ctrl_c_cancels_running_jobs(project: Project) -> None:
    proc = project.popen(
        "run",
        "-j",
        "2",
        "seed=0,1,2",
        "trainer.epochs=20",
        "trainer.sleep=0.5",
        env={**os.environ, "THESIS_SWEEP_GRACE": "5"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sweeps = project.sweeps()
        if sweeps:
            states = [j["state"] for j in project.status()["jobs"]]
            if states.count("running") == 2:
                break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("jobs never started")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    jobs = project.status()["jobs"]
    assert [j["state"] for j in jobs] == ["cancelled", "cancelled", "cancelled"]
    for job in jobs[:2]:
        pid = json.loads((Path(job["run_dir"]) / ".sweep" / "status.json").read_text())["pid"]
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_status_exit_codes_and_json(project: Project) -> None:
    project.cli("run", "seed=1,2", "trainer.epochs=1", check=0)
    done = project.cli("status", "--json", check=0)
    doc = json.loads(done.stdout)
    assert doc["schema_version"] == 1
    assert doc["sweep"]["counts"]["succeeded"] == 2
    assert {"num", "state", "exit_code", "run_dir"} <= set(doc["jobs"][0])
    by_name = project.cli("status", "--json", project.sweeps()[0].name, check=0)
    assert json.loads(by_name.stdout) == doc
    missing = project.cli("status", "no-such-sweep")
    assert missing.returncode == 2 and "no sweep matches" in missing.stderr


def test_help_and_status_do_not_import_hydra(project: Project) -> None:
    import sys

    project.cli("run", "seed=1", "trainer.epochs=1", check=0)
    for args in (["--help"], ["status"], ["run", "--help"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "sweeper_cli", *args],
            cwd=project.root,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        imported = {
            line.split("|")[-1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:")
        }
        assert "hydra" not in imported and "omegaconf" not in imported


def test_validation_catches_a_value_that_fails_in_one_group_only(project: Project) -> None:
    # Validation composes each group combination once and applies value overrides per job:
    # a value valid for one option of a group but not for another must still be caught.
    option = project.root / "configs" / "phase1" / "latent_space" / "ae.yaml"
    option.write_text("name: ae\ncodebook_size: 0\n")  # no `commitment` key
    done = project.cli(
        "run", "phase1/latent_space=none,ae", "phase1.latent_space.commitment=0.5,0.7"
    )
    assert done.returncode == 2, done.stderr
    assert "job 2 (phase1/latent_space=ae phase1.latent_space.commitment=0.5)" in done.stderr
    assert "commitment" in done.stderr and not project.outputs.exists()


@pytest.mark.parametrize("elsewhere", [False, True])
def test_the_status_hint_after_a_run_works_as_printed(
    project: Project, tmp_path: Path, elsewhere: bool
) -> None:
    """`done: ... (thesis-sweep status X)`: X is the name where the default look-up finds
    the sweep, else its path (after --output-root), so the command works as shown."""
    flags = ["--output-root", str(tmp_path / "other place")] if elsewhere else []
    done = project.cli("run", *flags, "seed=1", "trainer.epochs=1", check=0)
    hint = done.stderr.strip().splitlines()[-1].split("(thesis-sweep ", 1)[1].rstrip(")")
    assert ("/" in hint) == elsewhere
    assert project.cli(*shlex.split(hint)).returncode == 0
