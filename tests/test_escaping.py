"""Text from values, paths and job output is shown as text: never as rich markup, never as
terminal control sequences (real sweeps of a real app that prints hostile output)."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from conftest import NewProject
from sweeper_cli.cli.escape import printable, printable_lines

HOSTILE = "\x1b[2J\x1b]0;pwned\x07[/bold] fake [red]done[/red] :smile: [link=http://x]y[/link]"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_printable_leaves_no_control_character(text: str) -> None:
    shown = printable(text)
    assert not CONTROL.search(shown) and "\n" not in shown and "\t" not in shown
    assert printable_lines(text).count("\n") == text.count("\n")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf"))))
def test_printable_keeps_ordinary_text(text: str) -> None:
    assert printable(text) == text


def _hostile_app(new: NewProject) -> None:
    train = new.root / "train.py"
    text = train.read_text().replace(
        "    out = HydraConfig.get().runtime.output_dir\n",
        "    out = HydraConfig.get().runtime.output_dir\n"
        "    if cfg.model.width > 8:\n"
        f"        print({HOSTILE!r}, flush=True)\n"
        "        raise SystemExit(3)\n",
    )
    train.write_text(text)
    (new.root / "pyproject.toml").write_text('[tool.thesis-sweep]\nscript = "train.py"\n')


def _no_raw_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text
    assert "internal error" not in text and "MarkupError" not in text


def test_markup_and_escapes_in_values_paths_and_output_stay_text(new: NewProject) -> None:
    _hostile_app(new)
    root = "out[/x][bold]"
    overrides = ["model=glob(*)", "+paths=[/data/a],[/data/b]", "+tag='[/bold]\x1b[31mred'"]
    plan = new.cli("run", "--dry-run", "--output-root", root, *overrides)
    assert plan.returncode == 0, plan.stderr
    _no_raw_control(plan.stdout + plan.stderr)
    assert "+paths=[/data/a]" in plan.stdout and "[/x][bold]" in plan.stdout
    assert "\\x1b[31mred" in plan.stdout  # spelled out, never sent

    done = new.cli("run", "--output-root", root, *overrides)
    assert done.returncode == 1, done.stderr  # the big model's jobs fail (exit 3)
    _no_raw_control(done.stdout + done.stderr)
    assert "[/data/b]" in done.stderr  # the progress lines show the values as typed

    status = new.cli("status", "--output-root", root)
    assert status.returncode == 1, status.stderr
    _no_raw_control(status.stdout + status.stderr)
    assert "\\x1b[2J\\x1b]0;pwned\\x07[/bold] fake [red]done[/red] :smile:" in status.stdout
    watch = new.cli("status", "--watch", "--output-root", root)
    assert watch.returncode == 1 and "pwned\\x07[/bold] fake" in watch.stdout
    _no_raw_control(watch.stdout + watch.stderr)

    doc = json.loads(new.cli("status", "--json", "--output-root", root).stdout)
    assert {j["overrides"][1] for j in doc["jobs"]} == {"+paths=[/data/a]", "+paths=[/data/b]"}
    compare = new.cli("compare", "--output-root", root)
    assert compare.returncode == 0 and "[/data/a]" in compare.stdout, compare.stderr
    listed = new.cli("list", "--output-root", root)
    assert listed.returncode == 0, listed.stderr
    for shown in (compare, listed):
        _no_raw_control(shown.stdout + shown.stderr)
