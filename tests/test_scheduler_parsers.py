"""The pure scheduler parsers against real recorded Slurm and HTCondor output.

Every scheduler text here is read from tests/data/{slurm,htcondor} (see the README.md
there for the command behind each file). The few strings written by hand are marked
"not in the recordings" and say why.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeper_cli.errors import BackendFailure
from sweeper_cli.launch.backends import htcondor, slurm
from sweeper_cli.launch.backends.base import Observation
from sweeper_cli.launch.backends.cluster import compress
from sweeper_cli.states import Cause, State

DATA = Path(__file__).parent / "data"
SLURM = DATA / "slurm"
CONDOR = DATA / "htcondor"

# The hold reason HTCondor recorded for job 3.4 (its `input` file does not exist).
HOLD_TEXT = (
    "Error from slot1_1@vm: Failed to open '/tmp/htcondor-capture/no-such-input.txt' "
    "as standard input: No such file or directory (errno 2)"
)


def slurm_text(name: str) -> str:
    return (SLURM / name).read_text()


def condor_text(name: str) -> str:
    return (CONDOR / name).read_text()


# --- Slurm: sbatch --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        pytest.param(slurm_text("sbatch_parsable.txt"), "10", id="recorded"),
        # Not in the recordings (single-cluster test setup): `--parsable` on a multi-cluster
        # site prints `id;cluster` (man sbatch).
        pytest.param("12;cluster\n", "12", id="id-semicolon-cluster"),
        # Not in the recordings: a warning line before the id; the id is the last line.
        pytest.param("sbatch: warning: something\n42\n", "42", id="warning-then-id"),
    ],
)
def test_parse_sbatch(stdout: str, job_id: str) -> None:
    assert slurm.parse_sbatch(stdout) == job_id


@pytest.mark.parametrize(
    "stdout",
    [
        pytest.param("", id="empty"),
        pytest.param("\n\n", id="blank-lines"),
        # Not in the recordings: arbitrary text where the id should be.
        pytest.param("Submitted batch job 10\n", id="not-parsable-format"),
        pytest.param("sbatch: error: Batch job submission failed\n", id="garbage"),
        pytest.param(";cluster\n", id="no-id-before-semicolon"),
    ],
)
def test_parse_sbatch_rejects_garbage(stdout: str) -> None:
    with pytest.raises(BackendFailure, match="sbatch printed no job id"):
        slurm.parse_sbatch(stdout)


# --- Slurm: squeue --------------------------------------------------------------------------

PENDING_LIMIT = ("PENDING", "JobArrayTaskLimit")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "squeue_r_running_pending.txt",
            {
                "10_0": ("RUNNING", "None"),
                "10_1": PENDING_LIMIT,
                "10_2": PENDING_LIMIT,
                "10_3": PENDING_LIMIT,
            },
            id="running-pending",
        ),
        pytest.param(
            "squeue_r_t_all_midway.txt",
            {
                "10_0": ("COMPLETED", "None"),
                "10_1": ("FAILED", "NonZeroExitCode"),
                "10_2": ("RUNNING", "None"),
                "10_3": PENDING_LIMIT,
            },
            id="t-all-midway",
        ),
        pytest.param(
            "squeue_r_t_all_done.txt",
            {
                "10_0": ("COMPLETED", "None"),
                "10_1": ("FAILED", "NonZeroExitCode"),
                "10_2": ("CANCELLED", "None"),
                "10_3": ("COMPLETED", "None"),
            },
            id="t-all-done",
        ),
        pytest.param(
            # A pending task cancelled with scancel is simply absent (20_2).
            "squeue_r_t_all_done_pending_task_cancelled.txt",
            {
                "20_0": ("COMPLETED", "None"),
                "20_1": ("COMPLETED", "None"),
                "20_3": ("COMPLETED", "None"),
            },
            id="t-all-done-pending-task-cancelled",
        ),
        pytest.param(
            # Without -r the pending tasks fold into `10_[1-3%1]|10|1-3%1|...`: skipped.
            "squeue_folded_throttled.txt",
            {"10_0": ("RUNNING", "None")},
            id="folded-throttled-line-skipped",
        ),
        pytest.param("squeue_r_done_without_t_all.txt", {}, id="empty-without-t-all"),
    ],
)
def test_parse_squeue(name: str, expected: dict[str, tuple[str, str]]) -> None:
    assert slurm.parse_squeue(slurm_text(name)) == expected


def test_parse_squeue_backend_format_without_node_column() -> None:
    """The recordings carry a trailing `%N` column the backend does not ask for
    (SQUEUE_FORMAT ends at `%r`): the same lines without it parse the same."""
    assert slurm.SQUEUE_FORMAT == "%i|%F|%K|%T|%r"
    recorded = slurm_text("squeue_r_t_all_midway.txt")
    trimmed = "".join(line.rsplit("|", 1)[0] + "\n" for line in recorded.splitlines())
    assert slurm.parse_squeue(trimmed) == slurm.parse_squeue(recorded)


def test_parse_squeue_skips_stderr_noise() -> None:
    assert slurm.parse_squeue(slurm_text("squeue_bogus_id.stderr.txt")) == {}


WHERE = "submit/slurm-36_0.out"
ENDS_WORDS = {
    "TIMEOUT": "time limit: Slurm stopped it at its --time (TIMEOUT)",
    "OUT_OF_MEMORY": "out of memory: killed at its --mem limit (Slurm OUT_OF_MEMORY)",
}


# --- Slurm: sacct (with accounting) ------------------------------------------------------------


def test_parse_sacct_recorded_end_states() -> None:
    rows = slurm.parse_sacct(slurm_text("acct_sacct_x_done.txt"))
    assert rows == {
        "36_0": ("COMPLETED", "0:0", "None"),
        "36_1": ("FAILED", "3:0", "None"),
        "36_2": ("TIMEOUT", "0:0", "None"),
        "36_3": ("OUT_OF_MEMORY", "0:125", "None"),
        "36_4": ("CANCELLED by 0", "0:0", "None"),
        "36_5": ("COMPLETED", "0:0", "None"),  # its second run, after a requeue
    }


def test_parse_sacct_after_a_slurmctld_restart() -> None:
    """The same tasks after slurmctld restarted: the cancel loses its `by <uid>`."""
    rows = slurm.parse_sacct(slurm_text("acct_sacct_x_after_ctld_restart.txt"))
    assert rows["36_2"][0] == "TIMEOUT" and rows["36_4"][0] == "CANCELLED"


def test_parse_sacct_expands_folded_pending_tasks() -> None:
    # Not in the recordings (every task had started when sacct was asked): sacct folds
    # tasks not started yet into one row, like squeue without -r.
    text = "50|50_[2-4,7%2]|PENDING|0:0|JobArrayTaskLimit|00:00:00|00:01:00|1G|\n"
    assert slurm.parse_sacct(text) == {
        f"50_{t}": ("PENDING", "0:0", "JobArrayTaskLimit") for t in (2, 3, 4, 7)
    }


@pytest.mark.parametrize(
    ("name", "task", "expected"),
    [
        pytest.param(
            "acct_sacct_x_done.txt",
            "36_2",
            Observation(State.FAILED, ENDS_WORDS["TIMEOUT"], Cause.TIME_LIMIT),
            id="TIMEOUT-time-limit",
        ),
        pytest.param(
            "acct_sacct_x_done.txt",
            "36_3",
            Observation(State.FAILED, ENDS_WORDS["OUT_OF_MEMORY"], Cause.OUT_OF_MEMORY),
            id="OUT_OF_MEMORY-memory",
        ),
        pytest.param(
            "acct_sacct_x_done.txt",
            "36_4",
            Observation(
                State.FAILED, "removed outside thesis-sweep (scancel by uid 0)", Cause.REMOVED
            ),
            id="CANCELLED-by-uid-removed",
        ),
        pytest.param(
            "acct_sacct_x_after_ctld_restart.txt",
            "36_4",
            Observation(State.FAILED, "removed outside thesis-sweep (scancel)", Cause.REMOVED),
            id="CANCELLED-without-uid",
        ),
        pytest.param(
            "acct_sacct_x_done.txt",
            "36_1",
            Observation(
                State.FAILED, f"slurm FAILED (exit 3) before its runner reported (see {WHERE})"
            ),
            id="FAILED-exit-3",
        ),
        pytest.param(
            "acct_sacct_x_midway.txt",
            "36_5",
            Observation(State.QUEUED, "slurm requeued"),
            id="REQUEUED-queued",
        ),
        pytest.param(
            "acct_sacct_x_midway.txt",
            "36_2",
            Observation(State.RUNNING, "running in Slurm; its runner has not reported yet"),
            id="RUNNING",
        ),
    ],
)
def test_slurm_observation_of_recorded_sacct_rows(
    name: str, task: str, expected: Observation
) -> None:
    state, code, reason = slurm.parse_sacct(slurm_text(name))[task]
    assert slurm.observation(state, reason, WHERE, code) == expected


def test_slurm_observation_of_recorded_squeue_rows() -> None:
    rows = slurm.parse_squeue(slurm_text("squeue_r_running_pending.txt"))
    assert slurm.observation(*rows["10_1"], WHERE) == Observation(
        State.QUEUED, "slurm pending: JobArrayTaskLimit"
    )
    pending = slurm.parse_squeue(slurm_text("acct_squeue_requeued_pending.txt"))["36_5"]
    assert slurm.observation(*pending, WHERE) == Observation(
        State.QUEUED, "slurm pending: BeginTime"
    )


def test_slurm_observation_pending_without_reason() -> None:
    # Not in the recordings: every recorded PENDING task has a reason; `None` is what
    # squeue prints when there is none (as for the RUNNING rows).
    assert slurm.observation("PENDING", "None", WHERE) == Observation(State.QUEUED, "slurm pending")


# --- Slurm: observe() on recorded output (run_scheduler replaced, argv checked) ---------------


class FakeScheduler:
    """Stands in for `run_scheduler`: answers each call with recorded output."""

    def __init__(self, *answers: tuple[str, str, int]) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], **_: object) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        stdout, stderr, code = self.answers.pop(0)
        return subprocess.CompletedProcess(list(argv), code, stdout, stderr)


SACCT_CALL = ["sacct", "-X", "-P", "-n", f"--format={slurm.SACCT_FORMAT}", "-j"]
SQUEUE_CALL = ["squeue", "-h", "-r", "-t", "all", "-j"]


def test_slurm_observe_asks_sacct_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeScheduler((slurm_text("acct_sacct_x_done.txt"), "", 0))
    monkeypatch.setattr(slurm, "run_scheduler", fake)
    seen = slurm.SlurmBackend().observe(tmp_path, {n: f"36_{n}" for n in range(6)})
    assert fake.calls == [[*SACCT_CALL, "36"]]
    assert seen[2].cause is Cause.TIME_LIMIT and seen[3].cause is Cause.OUT_OF_MEMORY


def test_slurm_observe_without_accounting_falls_back_to_squeue(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for stderr in (
        slurm_text("sacct_no_slurmdbd.stderr.txt"),  # a cluster without slurmdbd
        slurm_text("acct_sacct_no_dbd.stderr.txt"),  # slurmdbd down
    ):
        fake = FakeScheduler(("", stderr, 1), (slurm_text("squeue_r_t_all_midway.txt"), "", 0))
        monkeypatch.setattr(slurm, "run_scheduler", fake)
        seen = slurm.SlurmBackend().observe(tmp_path, {num: f"10_{num}" for num in range(4)})
        assert [call[0] for call in fake.calls] == ["sacct", "squeue"]
        assert fake.calls[1] == [*SQUEUE_CALL, "10", "-o", slurm.SQUEUE_FORMAT]
        assert {num: obs.state for num, obs in seen.items()} == {
            0: State.FAILED,
            1: State.FAILED,
            2: State.RUNNING,
            3: State.QUEUED,
        }


def test_slurm_observe_pending_task_cancelled_is_absent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = "squeue_r_t_all_done_pending_task_cancelled.txt"
    no_dbd = slurm_text("sacct_no_slurmdbd.stderr.txt")
    monkeypatch.setattr(
        slurm, "run_scheduler", FakeScheduler(("", no_dbd, 1), (slurm_text(name), "", 0))
    )
    seen = slurm.SlurmBackend().observe(tmp_path, {n: f"20_{n}" for n in range(4)})
    assert sorted(seen) == [0, 1, 3]  # 2 unknown: `reconcile` judges it after the grace


def test_slurm_observe_invalid_job_id_is_unknown_not_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """squeue exits 1 with the recorded stderr once slurmctld forgot the array."""
    no_dbd = slurm_text("sacct_no_slurmdbd.stderr.txt")
    stderr = slurm_text("squeue_bogus_id.stderr.txt")
    monkeypatch.setattr(slurm, "run_scheduler", FakeScheduler(("", no_dbd, 1), ("", stderr, 1)))
    assert slurm.SlurmBackend().observe(tmp_path, {0: "999999_0"}) == {}


def test_slurm_observe_other_failure_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Not in the recordings: an sacct failure that is not about missing accounting.
    monkeypatch.setattr(
        slurm, "run_scheduler", FakeScheduler(("", "sacct: error: Invalid user\n", 1))
    )
    with pytest.raises(BackendFailure, match="sacct failed"):
        slurm.SlurmBackend().observe(tmp_path, {0: "10_0"})


# --- HTCondor: condor_submit -terse ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("submit_terse.txt", ("2", 0, 2), id="ok-3-jobs"),
        pytest.param("submit_terse_mixed.txt", ("3", 0, 4), id="mixed-5-jobs"),
    ],
)
def test_parse_terse(name: str, expected: tuple[str, int, int]) -> None:
    assert htcondor.parse_terse(condor_text(name)) == expected


def test_parse_terse_failed_submit() -> None:
    # stdout of the recorded refused submission (rc 1) is empty
    with pytest.raises(BackendFailure, match="condor_submit printed no cluster id"):
        htcondor.parse_terse(condor_text("submit_missing_executable.txt"))


# --- HTCondor: the job event log ---------------------------------------------------------------


def _log_until(name: str, code: str, job: str) -> str:
    """The recorded event log cut right after the block of event `code` of `job`
    (how the log looked at that moment: HTCondor only appends)."""
    text = condor_text(name)
    cluster, proc = job.split(".")
    head = f"{code} ({int(cluster):03d}.{int(proc):03d}.000) "
    start = text.index(head)
    end = text.index("\n...\n", start) + len("\n...\n")
    return text[:end]


def _failed(how: str) -> Observation:
    return Observation(State.FAILED, f"ended ({how}) before its runner reported")


RUNNING = Observation(State.RUNNING, htcondor.RUNNING_WORDS)
IDLE = Observation(State.QUEUED, "idle")
MEMORY = "Error from slot1_1@vm: memory usage exceeded request_memory"
DURATION = "The job exceeded allowed job duration of 00:10"
BY_RM = "via condor_rm (by user condoruser)"
BY_HOLD = "via condor_hold (by user condoruser)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            condor_text("userlog_ok.log"),
            {job: _failed("exit 0") for job in ("2.0", "2.1", "2.2")},
            id="ok-all-exit-0",
        ),
        pytest.param(
            condor_text("userlog_mixed.log"),
            {
                "3.0": _failed("exit 0"),
                "3.1": _failed("exit 3"),
                "3.2": _failed("signal 9"),
                "3.3": Observation(
                    State.FAILED, f"removed outside thesis-sweep ({BY_RM})", Cause.REMOVED
                ),
                "3.4": Observation(
                    State.FAILED, f"removed outside thesis-sweep ({BY_RM})", Cause.REMOVED
                ),
            },
            id="mixed-final",
        ),
        pytest.param(
            _log_until("userlog_ok.log", "000", "2.2"),
            {job: IDLE for job in ("2.0", "2.1", "2.2")},
            id="ok-just-submitted",
        ),
        pytest.param(
            _log_until("userlog_ok.log", "001", "2.1"),
            {"2.0": RUNNING, "2.1": RUNNING, "2.2": IDLE},
            id="ok-two-executing",
        ),
        pytest.param(
            _log_until("userlog_mixed.log", "012", "3.4"),
            {
                "3.0": _failed("exit 0"),
                "3.1": _failed("exit 3"),
                "3.2": _failed("signal 9"),
                "3.3": RUNNING,
                "3.4": Observation(
                    State.FAILED, f"held by HTCondor: {HOLD_TEXT} (hold code 8)", Cause.HELD
                ),
            },
            id="mixed-at-hold",
        ),
        pytest.param(
            condor_text("policy_memory_userlog.log"),
            {
                "22.0": Observation(
                    State.FAILED, f"removed outside thesis-sweep ({BY_RM})", Cause.REMOVED
                )
            },
            id="memory-held-then-removed",
        ),
        pytest.param(
            _log_until("policy_memory_userlog.log", "012", "22.0"),
            {
                "22.0": Observation(
                    State.FAILED, f"out of memory: held by HTCondor ({MEMORY})", Cause.OUT_OF_MEMORY
                )
            },
            id="memory-held",
        ),
        pytest.param(
            _log_until("policy_memory_userlog.log", "004", "22.0"),
            {
                "22.0": Observation(
                    State.QUEUED, "evicted by HTCondor: it runs again", Cause.PREEMPTED
                )
            },
            id="memory-evicted-before-the-hold",
        ),
        pytest.param(
            _log_until("policy_duration_userlog.log", "012", "23.0"),
            {
                "23.0": Observation(
                    State.FAILED, f"time limit: held by HTCondor ({DURATION})", Cause.TIME_LIMIT
                )
            },
            id="duration-held",
        ),
        pytest.param(
            _log_until("policy_hold_release_userlog.log", "012", "25.0"),
            {
                "25.0": Observation(
                    State.QUEUED, f"held: {BY_HOLD} (condor_release runs it)", Cause.HELD
                )
            },
            id="user-hold",
        ),
        pytest.param(
            _log_until("policy_hold_release_userlog.log", "013", "25.0"),
            {"25.0": Observation(State.QUEUED, "released: it runs again")},
            id="released",
        ),
        pytest.param(
            condor_text("policy_hold_release_userlog.log"),
            {"25.0": _failed("exit 0")},
            id="ran-again-and-ended",
        ),
        pytest.param(
            _log_until("node_starter_killed_userlog.log", "022", "194.0"),
            {"194.0": Observation(State.RUNNING, htcondor.DISCONNECTED_WORDS)},
            id="node-lost-disconnected",
        ),
        pytest.param(
            _log_until("node_starter_killed_userlog.log", "004", "194.0"),
            {
                "194.0": Observation(
                    State.QUEUED, "evicted by HTCondor: it runs again", Cause.PREEMPTED
                )
            },
            id="node-lost-reconnect-failed-evicted",
        ),
        pytest.param(
            condor_text("node_starter_killed_userlog.log"),
            {"194.0": _failed("exit 0")},
            id="node-lost-ran-again-and-ended",
        ),
        pytest.param("", {}, id="empty-log"),
    ],
)
def test_parse_event_log(text: str, expected: dict[str, Observation]) -> None:
    assert htcondor.parse_event_log(text) == expected


# --- HTCondor: condor_q / condor_history -af:t ------------------------------------------------


def test_the_backend_asks_the_recorded_attributes() -> None:
    """The `*_aft` recordings were made with exactly the attributes the backend asks."""
    assert " ".join(htcondor.AD_ATTRIBUTES) in (CONDOR / "README.md").read_text()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "policy_memory_q_aft_held.txt",
            Observation(
                State.FAILED, f"out of memory: held by HTCondor ({MEMORY})", Cause.OUT_OF_MEMORY
            ),
            id="q-memory-held",
        ),
        pytest.param(
            "policy_duration_q_aft_held.txt",
            Observation(
                State.FAILED, f"time limit: held by HTCondor ({DURATION})", Cause.TIME_LIMIT
            ),
            id="q-duration-held",
        ),
        pytest.param(
            "policy_hold_release_q_aft_held.txt",
            Observation(State.QUEUED, f"held: {BY_HOLD} (condor_release runs it)", Cause.HELD),
            id="q-user-hold",
        ),
        pytest.param("policy_hold_release_q_aft_running_again.txt", RUNNING, id="q-running-again"),
        pytest.param(
            "policy_memory_history_aft.txt",
            Observation(State.FAILED, f"removed outside thesis-sweep ({BY_RM})", Cause.REMOVED),
            id="history-removed-while-held",
        ),
        pytest.param(
            "policy_rm_running_history_aft.txt",
            Observation(State.FAILED, f"removed outside thesis-sweep ({BY_RM})", Cause.REMOVED),
            id="history-removed-while-running",
        ),
        pytest.param("policy_hold_release_history_aft.txt", _failed("exit 0"), id="history-done"),
        pytest.param("policy_retries_history_aft.txt", _failed("exit 1"), id="history-retried"),
    ],
)
def test_parse_ads_recorded(name: str, expected: Observation) -> None:
    [seen] = htcondor.parse_ads(condor_text(name)).values()
    assert seen == expected


def test_parse_ads_ignores_other_formats() -> None:
    # `-af` (spaces), `-af:j` and the plain table are not the backend's format: none of them
    # may be misread as jobs.
    for name in (
        "q_af_held.txt",
        "q_af_j_held.txt",
        "q_unknown_cluster.txt",
        "q_hold_held.txt",
        "policy_memory_q_af_held.txt",
        "history_af_mixed.txt",
    ):
        assert htcondor.parse_ads(condor_text(name)) == {}, name


def test_a_site_policy_hold_says_which_limit() -> None:
    # Not in the recordings (the CI pool has no site policy): SYSTEM_PERIODIC_HOLD (code 26)
    # and a job's periodic_hold (code 3) carry the site's own words.
    assert htcondor.hold_observation(26, 0, "Job exceeded the walltime").cause is Cause.TIME_LIMIT
    assert htcondor.hold_observation(3, 0, "Memory above 8 GB").cause is Cause.OUT_OF_MEMORY
    assert htcondor.hold_observation(34, 0, "out of resources").cause is Cause.OUT_OF_MEMORY
    other = htcondor.hold_observation(3, 0, "too many restarts")
    assert other.state is State.FAILED and other.cause is Cause.HELD


# --- HTCondor: observe() on recorded output ------------------------------------------------------


def test_htcondor_observe_reads_the_event_log_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeScheduler()  # any scheduler call would fail: there is no answer
    monkeypatch.setattr(htcondor, "run_scheduler", fake)
    (tmp_path / "submit").mkdir()
    (tmp_path / "submit" / "events-1.log").write_text(condor_text("userlog_mixed.log"))
    seen = htcondor.HTCondorBackend().observe(tmp_path, {n: f"3.{n}" for n in range(5)})
    assert fake.calls == []
    assert seen[1] == _failed("exit 3")
    assert seen[4].cause is Cause.REMOVED


def test_htcondor_observe_without_log_asks_condor_q_then_history(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeScheduler(
        (condor_text("q_af_after_done.txt"), "", 0),  # left the queue
        (condor_text("policy_memory_history_aft.txt"), "", 0),
    )
    monkeypatch.setattr(htcondor, "run_scheduler", fake)
    seen = htcondor.HTCondorBackend().observe(tmp_path, {0: "22.0"})
    assert [call[0] for call in fake.calls] == ["condor_q", "condor_history"]
    for call in fake.calls:
        assert call[call.index("-af:t") + 1 :] == list(htcondor.AD_ATTRIBUTES)
    assert seen[0].cause is Cause.REMOVED


# --- compress ------------------------------------------------------------------------------------


def _expand(text: str) -> set[int]:
    found: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


@pytest.mark.parametrize(
    ("nums", "text"),
    [
        pytest.param([0, 1, 2, 5, 7, 8], "0-2,5,7-8", id="docstring"),
        pytest.param([3], "3", id="single"),
        pytest.param([], "", id="empty"),
        pytest.param([9, 3, 3, 4, 0], "0,3-4,9", id="unsorted-duplicates"),
    ],
)
def test_compress_examples(nums: list[int], text: str) -> None:
    assert compress(nums) == text


@given(st.sets(st.integers(min_value=0, max_value=2000)))
def test_compress_round_trips(nums: set[int]) -> None:
    text = compress(nums)
    assert " " not in text
    assert re.fullmatch(r"(\d+(-\d+)?(,\d+(-\d+)?)*)?", text)
    assert _expand(text) == nums
