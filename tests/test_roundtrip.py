"""Values survive the trip through Hydra's override grammar, in-process and for real.

`hydra_quote` is how thesis-sweep writes strings (run dirs, names) into a child's argv.
The pure properties hold for any text, `${` included: at the override-parser level a
quoted `'${x}'` parses back to the text `${x}`. That value is still an OmegaConf string,
so OmegaConf would interpolate it when the config is read (and `\\${` is OmegaConf's
escape); that is the job's business, not the grammar's. The real runs below read the
child's saved config, where `${...}` would be an interpolation, so their strategy avoids
`${`: the literal check `note == value` would not mean the same thing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from conftest import Project, make_project
from sweeper_cli.planning.plan import hydra_quote

# Pieces of text that are special to Hydra's grammar, OmegaConf, YAML or a shell.
GRAMMAR_FRAGMENTS = [
    "${",
    "${x}",
    "}",
    "\\",
    "\\'",
    "\\\\",
    "'",
    '"',
    ",",
    "=",
    " ",
    "\t",
    "\n",
    "(",
    ")",
    "[",
    "]",
    "{",
    ":",
    "$",
    "#",
    "~",
    "null",
    "1e3",
    "é",
    "😀",
]

ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"])) | st.lists(
    st.sampled_from(GRAMMAR_FRAGMENTS) | st.text(max_size=3), max_size=12
).map("".join)


def _parser() -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


@given(ANY_TEXT)
@example("${seed}")
@example("\\${seed}")
@example("it's a \\' trap \\")
def test_hydra_quote_parses_back_to_the_text(text: str) -> None:
    override = _parser().parse_override(f"key={hydra_quote(text)}")
    assert not override.is_sweep_override()
    value = override.value()
    assert isinstance(value, str)
    assert value == text


@given(ANY_TEXT, ANY_TEXT)
def test_hydra_reserialisation_keeps_quoted_text(first: str, second: str) -> None:
    """What plan.py hands to a child (Hydra's own re-serialisation) parses back the same."""
    parser = _parser()
    single = parser.parse_override(f"key={hydra_quote(first)}")
    again = parser.parse_override(f"key={single.get_value_element_as_str()}")
    assert again.value() == first
    sweep = parser.parse_override(f"key={hydra_quote(first)},{hydra_quote(second)}")
    values = [parser.parse_override(f"key={s}").value() for s in sweep.sweep_string_iterator()]
    assert values == [first, second]


# --- real runs -------------------------------------------------------------------------

HOSTILE_FRAGMENTS = [
    " ",
    ",",
    "'",
    '"',
    "=",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "$HOME",
    "$(touch pwned)",
    "`touch pwned`",
    "\\",
    ":",
    "#",
    ";",
    "&",
    "|",
    "*",
    "?",
    "~",
    "%",
    "-",
    "--x",
    "null",
    "true",
    "1e3",
    "é",
    "日本",
    "😀",
    "a",
]
HOSTILE = (
    st.lists(st.sampled_from(HOSTILE_FRAGMENTS), min_size=1, max_size=8)
    .map("".join)
    .filter(lambda text: "${" not in text)
)

EVERYTHING = "a, b='c' \"d\" = (e) [f] {g} $HOME $(touch pwned) \\ : # ; & | * ? ~ % é 😀"


def _configs(project: Project) -> list[Any]:
    jobs = project.status()["jobs"]
    assert [job["state"] for job in jobs] == ["succeeded"] * len(jobs), jobs
    return [
        OmegaConf.to_container(OmegaConf.load(Path(job["run_dir"]) / ".hydra" / "config.yaml"))
        for job in jobs
    ]


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(note=HOSTILE, other=HOSTILE)
@example(note=EVERYTHING, other="\\")
@example(note=" null ", other="'")
def test_hostile_values_reach_the_child_literally(note: str, other: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "proj")
        done = project.cli(
            "run",
            f"+note={hydra_quote(note)}",
            f"+swept={hydra_quote(note)},{hydra_quote(other)}",
            "trainer.epochs=1",
        )
        assert done.returncode == 0, done.stderr
        configs = _configs(project)
        assert [(c["note"], c["swept"]) for c in configs] == [(note, note), (note, other)]
        assert not list(Path(tmp).rglob("pwned*"))


def test_run_dir_with_awkward_characters_is_used_exactly(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "out dir, a=b 'single' \"double\" (paren) [br] $HOME #x"
    done = project.cli("run", "--output-root", str(root), "seed=1,2", "trainer.epochs=1")
    assert done.returncode == 0, done.stderr
    assert not project.outputs.exists()
    [sweep] = (root / "multiruns").iterdir()
    jobs = json.loads((sweep / "runs_index.json").read_text())["jobs"]
    assert len(jobs) == 2
    for job in jobs:
        run_dir = root / job["run_dir"]
        assert run_dir.parent == root / "runs"
        assert (run_dir / ".hydra" / "config.yaml").is_file()
        log = (run_dir / ".sweep" / "output.log").read_text()
        cwd = [line for line in log.splitlines() if line.startswith("cwd=")]
        assert cwd == [f"cwd={run_dir}"], log
        hydra_cfg = OmegaConf.load(run_dir / ".hydra" / "hydra.yaml")
        assert hydra_cfg.hydra.run.dir == str(run_dir)
    assert sorted(p.name for p in (root / "runs").iterdir()) == sorted(
        Path(job["run_dir"]).name for job in jobs
    )


def test_shell_syntax_in_values_stays_inert(project: Project, tmp_path: Path) -> None:
    subst, chained, swept = tmp_path / "pwned", tmp_path / "pwned2", tmp_path / "pwned3"
    unquoted = project.cli("run", f"+b=; touch {chained}")
    assert unquoted.returncode == 2, unquoted.stderr  # not Hydra grammar: refused
    assert not project.outputs.exists()
    done = project.cli(
        "run",
        f"+a='$(touch {subst})'",
        f"+b='; touch {chained}'",
        f"+c=x,'&& touch {swept}'",
        "trainer.epochs=1",
    )
    assert done.returncode == 0, done.stderr
    configs = _configs(project)
    assert [(c["a"], c["b"], c["c"]) for c in configs] == [
        (f"$(touch {subst})", f"; touch {chained}", "x"),
        (f"$(touch {subst})", f"; touch {chained}", f"&& touch {swept}"),
    ]
    assert not subst.exists() and not chained.exists() and not swept.exists()
