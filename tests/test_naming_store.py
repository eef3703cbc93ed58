"""Folder names, atomic metadata, runptrs and folder claims (pure and file-level)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeper_cli.errors import BadInput
from sweeper_cli.planning.naming import Naming, check_name, check_pattern
from sweeper_cli.store import jobfiles, layout, runptrs, runs_index

NAMES = Naming("exp", "20260101-000000", "run_{ts}_{name}_job{num}", "exp_{ts}_{name}")


@given(st.text(max_size=40))
def test_accepted_names_never_escape_their_folder(name: str) -> None:
    try:
        check_name(name)
    except BadInput:
        return
    folder = Naming(name, "TS", "run_{ts}_{name}_job{num}", "exp_{ts}_{name}").run_folder(3)
    assert "/" not in folder and "\\" not in folder and ".." not in folder
    assert Path("/root/runs", folder).resolve().parent == Path("/root/runs")


@pytest.mark.parametrize("name", ["..", "a/b", "a\\b", "", ".hidden", "a..b", "x y", "a\nb"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="invalid sweep name"):
        check_name(name)


@pytest.mark.parametrize(
    ("pattern", "needs_num", "ok"),
    [
        ("run_{ts}_{name}_job{num}", True, True),
        ("{name}-{ts}-{num}", True, True),
        ("run_{ts}_{name}", True, False),
        ("exp_{ts}_{name}_{num}", False, False),
        ("exp_{ts}_{oops}", False, False),
        ("../exp_{ts}_{name}", False, False),
        ("exp_{ts", False, False),
    ],
)
def test_patterns(pattern: str, needs_num: bool, ok: bool) -> None:
    if ok:
        assert check_pattern(pattern, "p", needs_num) == pattern
    else:
        with pytest.raises(BadInput):
            check_pattern(pattern, "p", needs_num)


def test_atomic_write_leaves_no_temp_files_and_keeps_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    layout.atomic_write_json(target, {"x": 1})
    layout.atomic_write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert target.stat().st_mode & 0o044  # readable by others under the usual umask


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    layout.atomic_write_json(target, {"x": 1})
    with pytest.raises(TypeError):
        layout.atomic_write_json(target, {"x": object()})
    assert json.loads(target.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_runptr_symlink_resolves(tmp_path: Path) -> None:
    sweep = tmp_path / "multiruns" / "exp_1"
    run = tmp_path / "runs" / "run_1_job0"
    sweep.mkdir(parents=True)
    run.mkdir(parents=True)
    runptrs.write_runptr(sweep, 0, run)
    link = sweep / "runptrs" / "0"
    assert link.is_symlink() and os.readlink(link) == "../../../runs/run_1_job0"
    assert jobfiles.read_runptr(sweep, 0) == run.resolve()


def test_runptr_falls_back_to_a_text_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows without the symlink privilege cannot be run here: make os.symlink fail as it does.
    def no_symlinks(*_args: object, **_kwargs: object) -> None:
        raise OSError(1314, "A required privilege is not held by the client")

    sweep = tmp_path / "multiruns" / "exp_1"
    run = tmp_path / "runs" / "run_1_job0"
    sweep.mkdir(parents=True)
    run.mkdir(parents=True)
    monkeypatch.setattr(os, "symlink", no_symlinks)
    runptrs.write_runptr(sweep, 0, run)
    link = sweep / "runptrs" / "0"
    assert not link.is_symlink()
    assert link.read_text().strip() == "../../../runs/run_1_job0"
    assert jobfiles.read_runptr(sweep, 0) == run.resolve()


def test_index_schema_is_checked(tmp_path: Path) -> None:
    (tmp_path / layout.INDEX_FILE).write_text('{"schema_version": 99, "sweep": {}, "jobs": []}')
    with pytest.raises(BadInput, match="newer"):
        runs_index.read_index(tmp_path)
    (tmp_path / layout.INDEX_FILE).write_text("{not json")
    with pytest.raises(BadInput, match="cannot read"):
        runs_index.read_index(tmp_path)
