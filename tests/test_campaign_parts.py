"""The pure parts of campaigns and packs, over large input spaces (hypothesis): a queue
line keeps its digest however the file around it changes, and packs cover every job once,
in order, never mixing sweeps; plus each line's state and the campaign's exit code."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeper_cli.campaign import view
from sweeper_cli.campaign.queue import read_queue
from sweeper_cli.errors import BadInput
from sweeper_cli.launch.backends.base import JobRef
from sweeper_cli.launch.backends.packs import SweepJobs, make_packs, pack_profile
from sweeper_cli.project.profiles import Profile
from sweeper_cli.states import State

WORD = st.text(alphabet="abcdefghij_=,.()/0123456789 '\"", min_size=1, max_size=12).filter(
    lambda w: not w.strip().startswith(("-", "#")) and w.strip()
)
LINE = st.lists(WORD, min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(LINE, min_size=1, max_size=6),
    noise=st.lists(st.sampled_from(["", "# a comment", "   ", "#x y z"]), max_size=6),
    spaces=st.integers(min_value=1, max_value=4),
)
def test_a_line_keeps_its_digest_when_the_file_around_it_changes(
    tmp_path_factory: pytest.TempPathFactory, lines: list[list[str]], noise: list[str], spaces: int
) -> None:
    folder = tmp_path_factory.mktemp("queue")
    plain = folder / "plain.txt"
    plain.write_text("".join(shlex.join(words) + "\n" for words in lines))
    noisy = folder / "noisy.txt"
    text = [(" " * spaces).join(shlex.quote(w) for w in words) + "  # why" for words in lines]
    noisy.write_text("\n".join([*noise, *text, *noise]) + "\n")
    first = [(line.digest, line.overrides) for line in read_queue(plain)]
    second = [(line.digest, line.overrides) for line in read_queue(noisy)]
    assert first == second
    assert len({d for d, _ in first}) == len(first)  # a repeated line is a line of its own
    shared = [line.digest for line in read_queue(plain, ["trainer.epochs=1"])]
    assert not set(shared) & {d for d, _ in first}  # shared overrides make new experiments


def test_name_on_a_line(tmp_path: Path) -> None:
    queue = tmp_path / "q.txt"
    queue.write_text("a=1 --name x\n--name=y b=2\n")
    found = read_queue(queue, ["c=3"])
    assert [(line.number, line.name, line.overrides) for line in found] == [
        (1, "x", ("a=1", "c=3")),
        (2, "y", ("b=2", "c=3")),
    ]
    queue.write_text("--name x\n")
    with pytest.raises(BadInput, match="line 1: no overrides"):
        read_queue(queue)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=5),
    size=st.integers(min_value=1, max_value=5),
)
def test_packs_cover_every_job_once_in_order_never_mixing_sweeps(
    sizes: list[int], size: int
) -> None:
    groups = [
        SweepJobs(Path(f"/s{i}"), [JobRef(n, Path(f"/s{i}/run{n}")) for n in range(count)])
        for i, count in enumerate(sizes)
    ]
    packs = make_packs(groups, size)
    flat = [(p.sweep_dir, p.job) for pack in packs for p in pack]
    assert flat == [(g.sweep_dir, job) for g in groups for job in g.jobs]
    assert all(1 <= len(pack) <= size for pack in packs)
    assert all(len({p.sweep_dir for p in pack}) == 1 for pack in packs)
    assert len(packs) == sum(-(-count // size) for count in sizes)


def test_a_pack_asks_for_the_time_of_all_its_jobs() -> None:
    profile = Profile(backend="slurm", time="02:00:00", memory="8G")
    assert pack_profile(profile, 3).time == "06:00:00"
    assert pack_profile(profile, 3).memory == "8G"  # its jobs run one at a time
    assert pack_profile(profile, 1) == profile
    assert pack_profile(Profile(backend="slurm"), 3).time is None


def _row(states: list[State] | None, launching: bool = False) -> view.LineView:
    from sweeper_cli.campaign.queue import Line
    from sweeper_cli.state.views import JobView, SweepView

    line = Line(1, "a=1", ("a=1",), None, "d")
    if states is None:
        return view.LineView(line)
    sweep = SweepView(Path("/s"), None)  # type: ignore[arg-type]
    sweep.jobs = [JobView(n, s, (), None) for n, s in enumerate(states)]
    sweep.launching = launching
    return view.LineView(line, Path("/s"), sweep)


@pytest.mark.parametrize(
    ("rows", "states", "code"),
    [
        ([[State.SUCCEEDED] * 2], ["COMPLETE"], 0),
        ([[State.SUCCEEDED], None], ["COMPLETE", "NOT STARTED"], 4),
        ([[State.SUCCEEDED, State.FAILED]], ["INCOMPLETE"], 1),
        ([[State.LOST], [State.RUNNING]], ["INCOMPLETE", "INCOMPLETE"], 4),
        ([[State.CANCELLED], None], ["INCOMPLETE", "NOT STARTED"], 1),
        ([[State.QUEUED]], ["INCOMPLETE"], 4),
        ([[]], ["INCOMPLETE"], 1),
    ],
)
def test_line_states_and_the_campaign_exit_code(
    rows: list[list[State] | None], states: list[str], code: int
) -> None:
    found = [_row(r) for r in rows]
    assert [row.state for row in found] == states
    assert view.exit_code(found) == code


def test_a_launch_in_progress_is_unfinished() -> None:
    assert view.exit_code([_row([State.SUCCEEDED], launching=True)]) == 4
