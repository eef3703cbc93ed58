"""Which result files `compare` finds in a run dir, and what it reads from each (real files)."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeper_cli.results import compare, metric_readers, metrics

# What PyTorch Lightning's CSVLogger writes: one row per logging call, empty cells for the
# metrics not logged by that call (training steps, then one validation row per epoch).
LIGHTNING_CSV = """\
epoch,step,train/loss,val/acc,val/acc_best,val/loss
0,49,0.92,,,
0,99,0.71,,,
0,99,,0.61,0.61,0.83
1,149,0.55,,,
1,199,0.48,,,
1,199,,0.74,0.74,0.60
2,249,0.41,,,
2,299,0.44,,,
2,299,,0.70,0.74,0.65
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_events(folder: Path, scalars: dict[str, list[float]], *, simple: bool) -> None:
    """Event files written by TensorBoard's own writers: `simple` the simple_value scalars
    of PyTorch's SummaryWriter (what Lightning's TensorBoardLogger writes), else the tensor
    scalars of `tensorboard.summary.Writer` (tf.summary's format)."""
    if simple:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        writer = EventFileWriter(str(folder))
        for tag, values in scalars.items():
            for step, value in enumerate(values):
                value_pb = summary_pb2.Summary.Value(tag=tag, simple_value=value)
                summary = summary_pb2.Summary(value=[value_pb])
                writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
        writer.close()
    else:
        from tensorboard.summary import Writer

        tf_writer = Writer(str(folder))
        for tag, values in scalars.items():
            for step, value in enumerate(values):
                tf_writer.add_scalar(tag, value, step)
        tf_writer.close()


# --- discovery --------------------------------------------------------------------------


def test_discovery_order_and_what_is_never_read(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for rel in (
        "metrics.json",
        "results.yml",
        "eval_test.json",
        "test_results.yaml",
        "final_metrics.json",
        "facts/b.yaml",
        "facts/a.json",
        "lightning_logs/version_2/metrics.csv",
        "lightning_logs/version_10/metrics.csv",  # 10 > 2: read this one only
        "logs/csv/version_0/metrics.csv",
        # never read:
        "config.yaml",
        "hparams.yaml",
        "notes.json",
        "facts/deep/x.json",
        "train_figures/epoch_001.csv",
        "a/b/c/d/metrics.csv",  # deeper than a logger writes
        ".hydra/config.yaml",
        ".hydra/metrics.json",
        ".sweep/status.json",
        ".metrics.json",
    ):
        write(run / rel, "{}")
    write_events(run / "tensorboard" / "version_0", {"x": [1.0]}, simple=True)
    write_events(run / "tensorboard" / "version_1", {"x": [1.0]}, simple=True)
    write_events(run / "tb" / "train", {"x": [1.0]}, simple=False)
    assert metrics.discover(run) == [
        "metrics.json",
        "results.yml",
        "eval_test.json",
        "final_metrics.json",
        "test_results.yaml",
        "facts/a.json",
        "facts/b.yaml",
        "lightning_logs/version_10/metrics.csv",
        "logs/csv/version_0/metrics.csv",
        "tb/train/events.out.tfevents.*",
        "tensorboard/version_1/events.out.tfevents.*",
    ]


@pytest.mark.parametrize(
    ("folders", "kept"),
    [
        pytest.param(["v/version_0", "v/version_1"], ["v/version_1"], id="highest"),
        pytest.param(["v/version_9", "v/version_10"], ["v/version_10"], id="numeric"),
        pytest.param(["a/version_0", "b/version_3"], ["a/version_0", "b/version_3"], id="apart"),
        pytest.param(["logs/train", "logs/val"], ["logs/train", "logs/val"], id="not-versions"),
        pytest.param([".", "version_1", "version_0"], [".", "version_1"], id="top"),
    ],
)
def test_newest_versions(folders: list[str], kept: list[str]) -> None:
    assert metrics.newest_versions(folders) == kept


@pytest.mark.parametrize(
    ("rels", "labels"),
    [
        pytest.param(["facts/m.json", "facts/x.json"], ["m", "x"], id="stems"),
        pytest.param(["facts/m.json", "eval/m.json"], ["facts/m", "eval/m"], id="stem-clash"),
        pytest.param(
            ["metrics.json", "metrics.yaml"], ["metrics.json", "metrics.yaml"], id="suffix-clash"
        ),
        pytest.param(
            ["lightning_logs/version_3/metrics.csv", "tensorboard/version_0/events.out.tfevents.*"],
            ["lightning_logs", "tensorboard"],
            id="logger-folders",
        ),
        pytest.param(
            ["tb/train/events.out.tfevents.*", "tb/val/events.out.tfevents.*"],
            ["train", "val"],
            id="keras-folders",
        ),
        pytest.param(
            [
                "lightning_logs/version_0/metrics.csv",
                "lightning_logs/version_0/events.out.tfevents.*",
            ],
            ["lightning_logs/version_0/metrics", "lightning_logs/version_0"],
            id="one-logger-folder",
        ),
        pytest.param(["events.out.tfevents.*"], ["events"], id="events-at-top"),
    ],
)
def test_file_labels(rels: list[str], labels: list[str]) -> None:
    assert metrics.file_labels(rels) == dict(zip(rels, labels, strict=True))


# --- formats ----------------------------------------------------------------------------


def test_yaml_files_at_the_top_and_in_facts(tmp_path: Path) -> None:
    write(
        tmp_path / "metrics.yaml",
        "val_loss: 0.25\n"
        "lr: 1e-3  # YAML 1.2 float, a string to YAML 1.1\n"
        "diverged: .nan\n"
        "per_class:\n  0: 0.9\n  1: 0.8\n"
        "ok: true\nname: run\nnothing: null\ncurve: [1, 2]\n",
    )
    write(tmp_path / "facts" / "eval.yml", "acc: 0.75\ntext: '1e-3'\n")
    run = metrics.read_run(tmp_path)
    assert run.problems == []
    top = run.flat("metrics.yaml")
    assert math.isnan(top.pop("diverged"))
    assert top == {"val_loss": 0.25, "lr": 0.001, "per_class.0": 0.9, "per_class.1": 0.8}
    assert run.flat("facts/eval.yml") == {"acc": 0.75}  # a quoted string stays a string
    assert metrics.lookup(run.docs["metrics.yaml"], "curve.-1") == 2


def test_lightning_csv_last_and_best(tmp_path: Path) -> None:
    logs = tmp_path / "lightning_logs"
    write(logs / "version_0" / "metrics.csv", "epoch,val/loss\n0,0.01\n")  # an older run
    write(logs / "version_1" / "metrics.csv", LIGHTNING_CSV)
    run = metrics.read_run(tmp_path)
    assert list(run.docs) == ["lightning_logs/version_1/metrics.csv"]
    assert run.flat("lightning_logs/version_1/metrics.csv") == {
        "epoch": 2,  # counters: last only
        "step": 299,
        "train/loss": 0.44,
        "train/loss.best": 0.41,  # a loss: the smallest
        "val/acc": 0.70,
        "val/acc.best": 0.74,  # otherwise the largest
        "val/acc_best": 0.74,
        "val/acc_best.best": 0.74,
        "val/loss": 0.65,
        "val/loss.best": 0.60,
    }


@pytest.mark.parametrize(
    ("name", "lower"),
    [
        ("val_loss", True),
        ("train/Loss_epoch", True),
        ("val/error_rate", True),
        ("val_mae", True),
        ("test/rmse", True),
        ("val_perplexity", True),
        ("val/acc", False),
        ("val/f1", False),
        ("lr-Adam", False),
    ],
)
def test_which_metrics_are_costs(name: str, lower: bool) -> None:
    assert metric_readers.lower_is_better(name) is lower


def test_csv_cells_that_are_not_numbers(tmp_path: Path) -> None:
    write(tmp_path / "m.csv", "a,b,c,\n1,x,nan,7\n2,,,\n,3\n")
    assert metric_readers.read_csv_log(tmp_path / "m.csv") == {
        "a": 2,
        "a.best": 2,
        "b": 3,
        "b.best": 3,
        "c": pytest.approx(math.nan, nan_ok=True),
        "c.best": pytest.approx(math.nan, nan_ok=True),
    }


@pytest.mark.parametrize("simple", [True, False], ids=["pytorch-simple-value", "tf-summary"])
def test_tensorboard_scalars_last_and_best(tmp_path: Path, simple: bool) -> None:
    folder = tmp_path / "tensorboard" / "version_0"
    write_events(
        folder,
        {"val/loss": [0.9, 0.3, 0.4], "val/acc": [0.1, 0.7, 0.6], "epoch": [0, 1, 2]},
        simple=simple,
    )
    run = metrics.read_run(tmp_path)
    assert run.problems == [] and run.unread_events == []
    assert run.flat("tensorboard/version_0/events.out.tfevents.*") == {
        "val/loss": 0.4,
        "val/loss.best": 0.3,
        "val/acc": 0.6,
        "val/acc.best": 0.7,  # float32 in the file, shown as written: 0.7, not 0.699999988
        "epoch": 2.0,
    }


def test_tensorboard_files_from_a_glob_and_without_scalars(tmp_path: Path) -> None:
    write_events(tmp_path / "tb", {"loss": [2.0, 1.0]}, simple=True)
    (event_file,) = (tmp_path / "tb").iterdir()
    run = metrics.read_run(tmp_path, "tb/events.out.tfevents.*")
    assert run.flat(f"tb/{event_file.name}") == {"loss": 1.0, "loss.best": 1.0}
    empty = tmp_path / "empty"
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    EventFileWriter(str(empty)).close()  # only the file-version header: no scalars
    assert metric_readers.read_events(empty) == {}


def test_unreadable_files_are_problems_not_errors(tmp_path: Path) -> None:
    write(tmp_path / "metrics.json", '{"val_loss": 1.0, "oops"')
    write(tmp_path / "results.yaml", "a: [1, 2\n")
    write(tmp_path / "csv" / "version_0" / "metrics.csv", "a\n" + "1" * 200_000 + "\n")
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / "x.json").write_bytes(b"\xff\xfe")
    write(tmp_path / "tb" / "events.out.tfevents.1.host", "not an event file")
    run = metrics.read_run(tmp_path)
    kinds = {p.split(" (")[0]: p.split(" (")[1].split(":")[0] for p in run.problems}
    assert "cannot read csv/version_0/metrics.csv (ValueError: line 2: field larger" in str(
        run.problems
    )
    assert kinds == {
        "cannot read metrics.json": "JSONDecodeError",
        "cannot read results.yaml": "ValueError",
        "cannot read facts/x.json": "UnicodeDecodeError",
        "cannot read csv/version_0/metrics.csv": "ValueError",
    }
    # TensorBoard's loader skips a damaged record (as TensorBoard itself does): no scalars.
    assert run.docs["tb/events.out.tfevents.*"] == {}


# --- naming across a sweep --------------------------------------------------------------


def one_run(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        write(root / rel, text)
    return root


def test_a_name_in_two_sources_gets_their_labels(tmp_path: Path) -> None:
    runs = [
        metrics.read_run(
            one_run(
                tmp_path / str(i),
                {
                    "metrics.json": json.dumps({"val_loss": 0.5 + i, "acc": 0.9}),
                    "facts/metrics.json": json.dumps({"val_loss": 0.7, "epochs": 3}),
                    "lightning_logs/version_0/metrics.csv": "epoch,val_loss\n0,0.9\n1,0.8\n",
                },
            )
        )
        for i in range(2)
    ]
    columns = metrics.collect(runs, reserved=frozenset({"epoch"}))
    assert [c.title for c in columns] == [
        "metrics.val_loss",
        "acc",
        "facts/metrics.val_loss",
        "epochs",
        "lightning_logs.epoch",  # equal to a reserved column (a swept key here)
        "lightning_logs.val_loss",
        "val_loss.best",
    ]
    assert [c.value(runs[1]) for c in columns] == [1.5, 0.9, 0.7, 3, 1, 0.8, 0.8]


@pytest.mark.parametrize(
    ("values", "hidden"),
    [
        pytest.param([1, 1, 1], True, id="same"),
        pytest.param([1, 2, 1], False, id="differs"),
        pytest.param([1], False, id="one-run"),
        pytest.param([2, 2.0], True, id="int-float"),
        pytest.param([math.nan, math.nan], True, id="nan"),
        pytest.param([1, 1, None], False, id="missing-where-others-have-results"),
    ],
)
def test_constant_metrics(values: list[Any], hidden: bool) -> None:
    rows = [{"m": v, "other": i} for i, v in enumerate(values)]
    assert compare.constant_metrics(rows, ["m", "other"]) == (["m"] if hidden else [])


def test_a_run_without_any_result_does_not_unhide() -> None:
    rows = [{"m": 1, "n": 0}, {"m": 1, "n": 1}, {"m": None, "n": None}]  # job 2 failed
    assert compare.constant_metrics(rows, ["m", "n"]) == ["m"]


# --- metric_value -----------------------------------------------------------------------


def test_metric_value(tmp_path: Path) -> None:
    run = one_run(
        tmp_path,
        {
            "facts/metrics.json": json.dumps(
                {"val_loss": 0.5, "per_epoch": {"best": 3, "val_loss": [0.9, 0.5]}, "nan": "x"}
            ),
            "results.yaml": "val_loss: 0.25\n",
            "lightning_logs/version_0/metrics.csv": LIGHTNING_CSV,
        },
    )
    write_events(run / "tensorboard" / "version_0", {"hp_metric": [-1.0, 0.5]}, simple=True)
    assert metrics.metric_value(run, "val/acc_best") == 0.74
    assert metrics.metric_value(run, "val/loss.best") == 0.60
    assert metrics.metric_value(run, "per_epoch.best") == 3.0
    assert metrics.metric_value(run, "per_epoch.val_loss.-1") == 0.5
    assert metrics.metric_value(run, "val_loss") == 0.25  # results.yaml comes first
    assert metrics.metric_value(run, "metrics.val_loss") == 0.5  # a file's label picks it
    assert metrics.metric_value(run, "hp_metric.best") == 0.5
    assert metrics.metric_value(run, "nope") is None
    assert metrics.metric_value(run, "nan") is None  # a string is no metric
    assert metrics.metric_value(tmp_path / "missing", "val_loss") is None
    assert isinstance(metrics.metric_value(run, "per_epoch.best"), float)


# --- properties -------------------------------------------------------------------------

cells = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, width=64),
)


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(
        st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
        ),
        min_size=1,
        max_size=4,
        unique=True,
    ).filter(lambda names: not any(f"{n}.best" in names for n in names)),
    rows=st.lists(st.lists(cells, min_size=4, max_size=4), max_size=12),
)
def test_csv_logs_give_the_last_and_best_logged_value(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], rows: list[list[Any]]
) -> None:
    path = tmp_path_factory.mktemp("csv") / "metrics.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if v is None else repr(v) for v in row[: len(names)]])
    got = metric_readers.read_csv_log(path)
    expected: dict[str, Any] = {}
    for i, name in enumerate(names):
        logged = [row[i] for row in rows if row[i] is not None]
        if not logged:
            continue
        expected[name] = logged[-1]
        if name not in metric_readers.COUNTERS:
            expected[f"{name}.best"] = (
                min(logged) if metric_readers.lower_is_better(name) else max(logged)
            )
    assert got == expected
