"""`thesis-sweep compare` on real sweeps of the example app (real processes throughout)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, make_project

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One real 4-job sweep, read (never changed) by the tests of this module."""
    project = make_project(tmp_path_factory.mktemp("compare") / "proj")
    project.cli(
        "run",
        "trainer.lr=0.003,0.03",
        "+tag=x,y",  # a `+` key: compare matches it without the prefix
        "trainer.epochs=2",
        "-j",
        "4",
        check=0,
    )
    return project


def compare_json(project: Project, *args: str) -> dict[str, Any]:
    done = project.cli("compare", "--json", *args, check=0)
    return json.loads(done.stdout)


def facts(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads((Path(row["run_dir"]) / "facts" / "metrics.json").read_text())


def test_one_row_per_job_with_swept_keys_state_and_every_numeric_leaf(swept: Project) -> None:
    doc = compare_json(swept)
    assert doc["schema_version"] == 1
    assert doc["sweep"]["swept_keys"] == ["trainer.lr", "+tag"]
    assert doc["params"] == ["trainer.lr", "tag"]
    assert doc["columns"][:5] == ["job", "trainer.lr", "tag", "state", "duration"]
    assert doc["columns"][-1] == "run_dir"
    # The numeric leaves of facts/metrics.json that differ between runs, in file order.
    assert doc["metrics"] == ["val_loss", "train_loss", "best_val_loss"]
    same = ["epochs", "best_epoch", "resumed_from_epoch", "commitment_loss"]
    assert doc["hidden"] == same
    assert doc["sweep"]["files"] is None  # the default discovery
    every = compare_json(swept, "--all-columns")
    assert every["metrics"] == [*doc["metrics"], *same]  # lists (per_epoch) skipped
    assert every["hidden"] == []
    rows = doc["rows"]
    assert [(r["job"], r["trainer.lr"], r["tag"]) for r in rows] == [
        (0, "0.003", "x"),
        (1, "0.003", "y"),
        (2, "0.03", "x"),
        (3, "0.03", "y"),
    ]
    for row, full in zip(rows, every["rows"], strict=True):
        assert row["state"] == "succeeded"
        assert row["duration"] > 0
        written = facts(row)
        assert row["val_loss"] == written["val_loss"]
        assert "epochs" not in row and full["epochs"] == written["epochs"] == 2
    done = swept.cli("compare", "--json", check=0)
    assert done.stderr == (
        "note: 4 metrics the same in every run, hidden: epochs, best_epoch, "
        "resumed_from_epoch, commitment_loss (--all-columns shows them)\n"
    )


def test_titles_count_the_jobs_shown_of_the_sweep(swept: Project, project: Project) -> None:
    def title(done: Any) -> str:
        return str(done.stdout.splitlines()[0].split("  ", 1)[1].strip())

    assert title(swept.cli("compare", check=0)) == "(4 jobs)"
    assert title(swept.cli("compare", "--top", "3", check=0)) == "(3 of 4 jobs)"
    assert title(swept.cli("compare", "--top", "1", check=0)) == "(1 of 4 jobs)"
    project.cli("run", "trainer.epochs=1", check=0)
    single = project.cli("compare", check=0)
    assert title(single) == "(1 job)"
    assert "epochs" in single.stdout  # one run: nothing is hidden


def test_sort_top_and_descending(swept: Project) -> None:
    losses = [r["val_loss"] for r in compare_json(swept)["rows"]]
    up = compare_json(swept, "--sort", "val_loss")["rows"]
    assert [r["val_loss"] for r in up] == sorted(losses)
    down = compare_json(swept, "--sort", "-val_loss", "--top", "2")["rows"]
    assert [r["val_loss"] for r in down] == sorted(losses, reverse=True)[:2]
    assert compare_json(swept, "--sort", "val_loss", "--desc")["rows"] == sorted(
        up, key=lambda r: -r["val_loss"]
    )
    by_lr = compare_json(swept, "--sort", "-trainer.lr")["rows"]
    assert [r["trainer.lr"] for r in by_lr] == ["0.03", "0.03", "0.003", "0.003"]


def test_chosen_metrics_with_list_index(swept: Project) -> None:
    doc = compare_json(
        swept, "--metric", "val_loss", "--metric", "per_epoch.val_loss.0", "--metric", "nope"
    )
    assert doc["metrics"] == ["val_loss", "per_epoch.val_loss.0", "nope"]
    for row in doc["rows"]:
        assert row["per_epoch.val_loss.0"] == facts(row)["per_epoch"]["val_loss"][0]
        assert row["nope"] is None
    done = swept.cli("compare", "--metric", "nope", check=0)
    assert "no run has metric 'nope'" in done.stderr


def test_table_and_csv(swept: Project, tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    done = swept.cli("compare", "--csv", str(out), "--sort", "val_loss", check=0)
    assert "val_loss" in done.stdout.splitlines()[2]  # the rich table's header
    assert "succeeded" in done.stdout
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    doc = compare_json(swept, "--sort", "val_loss")
    assert list(rows[0]) == doc["columns"]
    assert [float(r["val_loss"]) for r in rows] == [r["val_loss"] for r in doc["rows"]]
    assert not list(tmp_path.glob(".*tmp"))  # written atomically: no temp left
    stdout_csv = swept.cli("compare", "--csv", "-", check=0).stdout
    assert stdout_csv.splitlines()[0] == ",".join(doc["columns"])


def test_bad_input_is_one_line_and_exit_2(swept: Project, tmp_path: Path) -> None:
    for args in (
        ["--sort", "bogus"],
        ["--x", "trainer.lr"],
        ["--plot", str(tmp_path / "p.png"), "--y", "trainer.lr"],
        ["--plot", str(tmp_path / "p.svg")],
        ["--json", "--csv", "-"],
        ["--csv", str(tmp_path / "no" / "such" / "dir.csv")],
        ["--sort", "epochs"],  # hidden: the same in every run
    ):
        done = swept.cli("compare", *args, check=2)
        assert done.stderr.startswith("thesis-sweep: error: "), args
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(tmp_path.iterdir())
    hidden = swept.cli("compare", "--sort", "epochs", check=2)
    assert "'epochs' has the same value in every run, so it is hidden: add --all-columns" in (
        hidden.stderr
    )
    shown = compare_json(swept, "--sort", "-epochs", "--all-columns")
    assert [r["epochs"] for r in shown["rows"]] == [2, 2, 2, 2]


def test_plot_writes_a_png(swept: Project, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "lr.png"
    done = swept.cli(
        "compare",
        "--plot",
        str(png),
        "--x",
        "trainer.lr",
        "--y",
        "val_loss",
        "--hue",
        "tag",
        "--logx",
    )
    assert done.returncode == 0, done.stderr
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert "val_loss against trainer.lr per tag (4 runs)" in done.stderr
    one = swept.cli("compare", "--plot", str(png), "--top", "1", check=0)
    assert "val_loss against trainer.lr per tag (1 run)" in one.stderr


def test_plot_without_matplotlib_is_a_clear_error(swept: Project, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('blocked for a test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])}
    png, out = tmp_path / "p.png", tmp_path / "rows.csv"
    done = swept.cli("compare", "--plot", str(png), "--csv", str(out), env=env, check=2)
    assert done.stderr.strip().splitlines() == [
        "thesis-sweep: error: --plot needs matplotlib (blocked for a test): "
        "pip install 'thesis-sweep[plot]'"
    ]
    assert not png.exists() and not out.exists()  # refused before writing anything


def test_compare_imports_only_what_the_files_need(swept: Project) -> None:
    code = (
        "import sys\n"
        "from sweeper_cli.cli import main\n"
        "sys.argv = ['thesis-sweep', 'compare', '--json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf', "
        "'matplotlib', 'tensorboard', 'yaml'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=swept.root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_missing_and_corrupt_results_never_crash(project: Project) -> None:
    project.cli("run", "seed=0,1,2,3", "trainer.epochs=1", "-j", "4", check=0)
    runs = {r["job"]: Path(r["run_dir"]) for r in compare_json(project)["rows"]}
    (runs[1] / "facts" / "metrics.json").write_text('{"val_loss": 1.0, "oops"')  # corrupt
    (runs[2] / "facts" / "metrics.json").unlink()  # missing
    (runs[3] / "facts" / "metrics.json").write_text(
        json.dumps({"val_loss": float("nan"), "train_loss": 2.0})
    )
    # A second file: names found in both files get the file stem as prefix.
    for run in runs.values():
        (run / "facts" / "eval.json").write_text(
            json.dumps({"val_loss": 0.5, "acc": 0.9, "deep": {"x": 1}, "ok": True, "c": [1]})
        )
    done = project.cli("compare", "--json", "--sort", "metrics.val_loss", "--all-columns", check=0)
    doc = json.loads(done.stdout)
    assert "note: job 1: cannot read facts/metrics.json (JSONDecodeError" in done.stderr
    assert doc["metrics"][:4] == ["eval.val_loss", "acc", "deep.x", "metrics.val_loss"]
    assert "ok" not in doc["metrics"] and "c" not in doc["metrics"]
    by_job = {r["job"]: r for r in doc["rows"]}
    assert by_job[0]["metrics.val_loss"] is not None
    assert by_job[1]["metrics.val_loss"] is None and by_job[1]["acc"] == 0.9
    assert by_job[2]["metrics.val_loss"] is None
    assert by_job[3]["metrics.val_loss"] is None  # NaN: strict JSON null
    assert by_job[3]["train_loss"] == 2.0
    assert doc["rows"][0]["job"] == 0  # the one present value first; missing (and NaN) last
    descending = compare_json(project, "--sort", "-metrics.val_loss", "--all-columns")["rows"]
    assert descending[0]["job"] == 0
    table = project.cli("compare", check=0)
    assert "nan" in table.stdout  # the table shows what the file says
    only = compare_json(project, "--files", "facts/metrics.json")
    assert "val_loss" in only["metrics"] and "acc" not in only["metrics"]


def test_flatten_and_lookup_rules() -> None:
    from sweeper_cli.results import metrics

    doc = {"a": 1, "b": {"c": 2.5, "ok": True, "s": "x", "n": None}, "l": [1, 2, 3], "d.e": 4}
    assert dict(metrics.flatten(doc)) == {"a": 1, "b.c": 2.5, "d.e": 4}
    assert metrics.lookup(doc, "b.c") == 2.5
    assert metrics.lookup(doc, "l.-1") == 3 and metrics.lookup(doc, "l.0") == 1
    assert metrics.lookup(doc, "l.9") is None and metrics.lookup(doc, "b.ok") is None
    assert metrics.lookup(doc, "d.e") == 4
    assert metrics.file_labels(["facts/m.json", "eval/m.json", "facts/x.json"]) == {
        "facts/m.json": "facts/m",
        "eval/m.json": "eval/m",
        "facts/x.json": "x",
    }


LIGHTNING_CSV = """\
epoch,step,train_loss,val/acc,val/loss
0,9,{t0},,
0,9,,{a0},{v0}
1,19,{t1},,
1,19,,{a1},{v1}
"""


def test_reads_what_other_apps_write(project: Project) -> None:
    """A real sweep whose runs also left a YAML file, a Lightning CSV log in two versions
    and TensorBoard event files, as a Lightning app would."""
    from test_metrics_discovery import write_events

    project.cli("run", "trainer.lr=0.003,0.03", "trainer.epochs=1", "-j", "2", check=0)
    runs = [Path(r["run_dir"]) for r in compare_json(project)["rows"]]
    for i, run in enumerate(runs):
        (run / "results.yaml").write_text(f"test:\n  acc: {0.5 + i / 10}\ndataset_size: 1000\n")
        logs = run / "lightning_logs"
        (logs / "version_0").mkdir(parents=True)
        (logs / "version_0" / "metrics.csv").write_text("epoch,val/loss\n0,0.001\n")  # older
        (logs / "version_1").mkdir()
        (logs / "version_1" / "metrics.csv").write_text(
            LIGHTNING_CSV.format(t0=2 + i, t1=1 + i, a0=0.5, a1=0.6 + i / 10, v0=0.9, v1=0.7 + i)
        )
        write_events(run / "tensorboard" / "version_0", {"val/loss": [1.0 + i, 2.0]}, simple=True)
    doc = compare_json(project)
    # Discovery order: results.yaml, facts/metrics.json, the CSV log, the event files.
    # Names in two sources get their labels (train_loss: the app's facts and the CSV log).
    assert doc["metrics"] == [
        "test.acc",
        "val_loss",
        "metrics.train_loss",
        "best_val_loss",
        "lightning_logs.train_loss",
        "train_loss.best",
        "val/acc",
        "val/acc.best",
        "lightning_logs.val/loss",
        "lightning_logs.val/loss.best",
        "tensorboard.val/loss.best",
    ]
    assert doc["hidden"] == [
        "dataset_size",
        "epochs",
        "best_epoch",
        "resumed_from_epoch",
        "commitment_loss",
        "epoch",
        "step",
        "tensorboard.val/loss",  # 2.0 at the end of every run
    ]
    assert [
        (r["test.acc"], r["lightning_logs.train_loss"], r["train_loss.best"], r["val/acc"])
        for r in doc["rows"]
    ] == [(0.5, 1, 1, 0.6), (0.6, 2, 2, 0.7)]
    assert [r["lightning_logs.val/loss.best"] for r in doc["rows"]] == [0.7, 0.9]
    assert [r["tensorboard.val/loss.best"] for r in doc["rows"]] == [1.0, 2.0]
    every = compare_json(project, "--all-columns")
    assert every["rows"][0]["dataset_size"] == 1000
    assert every["rows"][1]["tensorboard.val/loss"] == 2.0
    chosen = compare_json(project, "--metric", "dataset_size", "--metric", "val/acc.best")
    assert [(r["dataset_size"], r["val/acc.best"]) for r in chosen["rows"]] == [
        (1000, 0.6),
        (1000, 0.7),
    ]
    only_yaml = compare_json(project, "--files", "*.yaml", "--all-columns")
    assert only_yaml["metrics"] == ["test.acc", "dataset_size"]
    assert only_yaml["sweep"]["files"] == "*.yaml"
    csv_logs = compare_json(project, "--files", "lightning_logs/*/metrics.csv", "--all-columns")
    assert "version_0/metrics.val/loss" in " ".join(csv_logs["metrics"])  # both versions read

    # Without the tensorboard extra: the rest as before, and one note saying what to install.
    fake = project.root / "fake"
    (fake / "tensorboard").mkdir(parents=True)
    (fake / "tensorboard" / "__init__.py").write_text("raise ImportError('blocked for a test')\n")
    done = project.cli("compare", "--json", env={"PYTHONPATH": str(fake)}, check=0)
    assert done.stderr.splitlines()[0] == (
        "note: 2 runs have TensorBoard event files, not read: "
        "pip install 'thesis-sweep[tensorboard]'"
    )
    without = json.loads(done.stdout)
    assert not [m for m in without["metrics"] + without["hidden"] if "tensorboard" in m]
    assert without["metrics"][-2:] == ["val/loss", "val/loss.best"]  # no clash left
