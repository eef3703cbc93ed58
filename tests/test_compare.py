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
    # Every numeric leaf of facts/metrics.json, in file order; lists (per_epoch) skipped.
    assert doc["metrics"][:5] == ["val_loss", "train_loss", "best_val_loss", "epochs", "best_epoch"]
    assert not [m for m in doc["metrics"] if m.startswith("per_epoch")]
    assert doc["sweep"]["files"] is None  # the default discovery
    rows = doc["rows"]
    assert [(r["job"], r["trainer.lr"], r["tag"]) for r in rows] == [
        (0, "0.003", "x"),
        (1, "0.003", "y"),
        (2, "0.03", "x"),
        (3, "0.03", "y"),
    ]
    for row in rows:
        assert row["state"] == "succeeded"
        assert row["duration"] > 0
        written = facts(row)
        assert row["val_loss"] == written["val_loss"]
        assert row["epochs"] == written["epochs"] == 2


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
    ):
        done = swept.cli("compare", *args, check=2)
        assert done.stderr.startswith("thesis-sweep: error: "), args
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(tmp_path.iterdir())


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
    done = project.cli("compare", "--json", "--sort", "metrics.val_loss", check=0)
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
    descending = compare_json(project, "--sort", "-metrics.val_loss")["rows"]
    assert descending[0]["job"] == 0
    table = project.cli("compare", check=0)
    assert "nan" in table.stdout  # the table shows what the file says
    only = compare_json(project, "--files", "facts/metrics.json")
    assert "val_loss" in only["metrics"] and "acc" not in only["metrics"]


def test_flatten_and_lookup_rules() -> None:
    from sweeper_cli import metrics

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
