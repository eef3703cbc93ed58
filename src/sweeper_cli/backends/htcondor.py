r"""HTCondor: one cluster per launch (`queue num from` an item list), status from the job
event log (then `condor_q` / `condor_history`), `condor_rm` to cancel.

Facts this relies on (HTCondor 23, condor_submit(1), condor_q(1), the job event log):
- Jobs of `queue num from FILE` get ProcIds 0, 1, ... in the order of the file's lines;
  `condor_submit -terse` prints `<cluster>.<first> - <cluster>.<last>`.
- The event log (`log =`) records per job: 000 submitted, 001 executing, 004 evicted,
  005 terminated ("(1) Normal termination (return value N)" or "(0) Abnormal termination
  (signal S)"), 009 aborted (condor_rm), 012 held (reason on the next line), 013 released.
- JobStatus: 1 idle, 2 running, 3 removed, 4 completed, 5 held, 6 transferring output,
  7 suspended. `-af` prints `undefined` for a missing attribute.
- In a submit file `$` starts a macro (`$(x)`, `$ENV(x)`, `$RANDOM_CHOICE(...)`): a path
  holding it cannot be written literally; values are stripped and a trailing `\` continues
  the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sweeper_cli import store
from sweeper_cli.backends.base import Observation, Submission
from sweeper_cli.backends.cluster import ClusterBackend
from sweeper_cli.backends.commands import SUBMIT_TIMEOUT, first_line, run_scheduler
from sweeper_cli.errors import BackendFailure
from sweeper_cli.profiles import Profile
from sweeper_cli.states import State

_EVENT = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.\d+\) ")
_RETURN = re.compile(r"return value (-?\d+)")
_SIGNAL = re.compile(r"signal (\d+)")
_TERSE = re.compile(r"(\d+)\.(\d+)\s*-\s*\d+\.(\d+)")


def _seconds(limit: str) -> int:
    """A Slurm-style time limit in seconds: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`."""
    days, dash, clock = limit.partition("-")
    if not dash:
        days, clock = "0", limit
    parts = [int(p) for p in clock.split(":")]
    if dash:  # after a day count the clock starts with hours
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 1:
        hours, minutes, seconds = 0, parts[0], 0
    elif len(parts) == 2:
        hours, minutes, seconds = 0, parts[0], parts[1]
    else:
        hours, minutes, seconds = parts
    return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds


def render_submit(
    sweep_name: str,
    submit_dir: Path,
    job_script: Path,
    items: Path,
    log: Path,
    initialdir: Path,
    profile: Profile,
    max_parallel: int | None = None,
) -> str:
    """The submit description of one cluster (re-submittable with `condor_submit FILE`)."""
    lines = [
        f"# thesis-sweep submission of {sweep_name}: one job per line of {items.name}",
        "universe = vanilla",
        f"executable = {job_script}",
        "arguments = $(num)",
        f"initialdir = {initialdir}",
        f"output = {submit_dir}/condor-$(Cluster)_$(num).out",
        f"error = {submit_dir}/condor-$(Cluster)_$(num).err",
        f"log = {log}",
        'environment = "THESIS_SWEEP_SCHEDULER_ID=$(Cluster).$(Process)"',
        f"batch_name = ts-{sweep_name}",
    ]
    if profile.cpus:
        lines.append(f"request_cpus = {profile.cpus}")
    if profile.memory:
        lines.append(f"request_memory = {profile.memory}")
    if profile.gpus:
        lines.append(f"request_gpus = {profile.gpus}")
    if profile.time:
        lines.append(f"allowed_execute_duration = {_seconds(profile.time)}")
    if profile.account:
        lines.append(f"accounting_group = {profile.account}")
    if max_parallel:  # late materialization: at most N jobs of the cluster exist at once
        lines.append(f"max_materialize = {max_parallel}")
    lines.extend(profile.extra)
    lines.append(f"queue num from {items}")
    return "\n".join(lines) + "\n"


def parse_terse(stdout: str) -> tuple[str, int, int]:
    match = _TERSE.search(stdout)
    if not match:
        raise BackendFailure(f"condor_submit printed no cluster id: {first_line(stdout)}")
    return match.group(1), int(match.group(2)), int(match.group(3))


def parse_event_log(text: str) -> dict[str, Observation]:
    """The last meaningful event of each job in an event log: {'<cluster>.<proc>': ...}."""
    found: dict[str, Observation] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _EVENT.match(line)
        if not match:
            continue
        code, job = match.group(1), f"{int(match.group(2))}.{int(match.group(3))}"
        detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if code in ("000", "004", "013"):
            found[job] = Observation(State.QUEUED, "idle")
        elif code == "001":
            found[job] = Observation(State.RUNNING, "started; its runner has not reported yet")
        elif code == "012":
            found[job] = Observation(State.QUEUED, f"held: {detail}")
        elif code == "009":
            found[job] = Observation(State.CANCELLED, "removed (condor_rm) before it reported")
        elif code == "005":
            ret, sig = _RETURN.search(detail), _SIGNAL.search(detail)
            how = f"exit {ret.group(1)}" if ret else f"signal {sig.group(1) if sig else '?'}"
            found[job] = Observation(State.FAILED, f"ended ({how}) before its runner reported")
    return found


def _status_observation(status: str, hold_reason: str) -> Observation | None:
    if status in ("1", "7"):
        return Observation(State.QUEUED, "idle" if status == "1" else "suspended")
    if status in ("2", "6"):
        return Observation(State.RUNNING, "started; its runner has not reported yet")
    if status == "5":
        return Observation(State.QUEUED, f"held: {hold_reason}")
    if status == "3":
        return Observation(State.CANCELLED, "removed (condor_rm) before it reported")
    if status == "4":
        return Observation(State.FAILED, "completed without its runner reporting")
    return None


def parse_history(text: str) -> dict[str, Observation]:
    """`condor_history -af ClusterId ProcId JobStatus ExitCode ExitBySignal ExitSignal`."""
    found: dict[str, Observation] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or not parts[0].isdigit():
            continue
        job, status = f"{parts[0]}.{parts[1]}", parts[2]
        if status == "4":
            how = f"signal {parts[5]}" if parts[4] == "true" else f"exit {parts[3]}"
            found[job] = Observation(State.FAILED, f"ended ({how}) before its runner reported")
        elif status == "3":
            found[job] = Observation(State.CANCELLED, "removed (condor_rm) before it reported")
    return found


def parse_q(text: str) -> dict[str, Observation]:
    """`condor_q -af ClusterId ProcId JobStatus HoldReason` (HoldReason last: it has spaces)."""
    found: dict[str, Observation] = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        seen = _status_observation(parts[2], parts[3] if len(parts) > 3 else "")
        if seen:
            found[f"{parts[0]}.{parts[1]}"] = seen
    return found


def waiting(job: str, known: dict[str, Observation]) -> Observation | None:
    """A job not materialized yet (max_materialize) while others of its cluster live."""
    cluster = job.split(".")[0] + "."
    live = any(k.startswith(cluster) and not o.state.is_terminal() for k, o in known.items())
    return Observation(State.QUEUED, "waiting for a free place (max_parallel)") if live else None


class HTCondorBackend(ClusterBackend):
    name = "htcondor"
    # `$` starts a macro ($(x), $ENV(x), $RANDOM_INTEGER(...)): refused outright.
    forbidden_in_paths = ("$",)

    def submit(
        self, submit_dir: Path, job_script: Path, nums: Sequence[int], tag: int
    ) -> Submission:
        items = submit_dir / f"items-{tag}.txt"
        store.atomic_write_text(items, "".join(f"{n}\n" for n in nums))
        submit = submit_dir / f"sweep-{tag}.sub"
        log = submit_dir / f"events-{tag}.log"
        store.atomic_write_text(
            submit,
            render_submit(
                submit_dir.parent.name,
                submit_dir,
                job_script,
                items,
                log,
                submit_dir,
                self.profile,
                self.max_parallel,
            ),
        )
        done = run_scheduler(
            ["condor_submit", "-terse", str(submit)], timeout=SUBMIT_TIMEOUT, cwd=submit_dir
        )
        if done.returncode != 0:
            raise BackendFailure(f"condor_submit refused the sweep: {first_line(done.stderr)}")
        cluster, first, last = parse_terse(done.stdout)
        if last - first + 1 != len(nums):
            raise BackendFailure(f"condor_submit queued {last - first + 1} jobs, not {len(nums)}")
        job_ids = {num: f"{cluster}.{first + i}" for i, num in enumerate(nums)}
        return Submission(cluster, job_ids, [submit.name, items.name, log.name])

    def observe(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        events: dict[str, Observation] = {}
        for log in sorted((sweep_dir / "submit").glob("events-*.log")):
            try:
                events.update(parse_event_log(log.read_text(errors="replace")))
            except OSError:
                continue
        missing = sorted({sid.split(".")[0] for sid in job_ids.values() if sid not in events})
        if missing:  # no event log to read: ask the schedd, then its history
            events.update(
                self._ask(
                    [
                        "condor_q",
                        "-allusers",
                        *missing,
                        "-af",
                        "ClusterId",
                        "ProcId",
                        "JobStatus",
                        "HoldReason",
                    ]
                )
            )
            gone = sorted({sid.split(".")[0] for sid in job_ids.values() if sid not in events})
            if gone:
                events.update(
                    self._ask(
                        [
                            "condor_history",
                            *gone,
                            "-af",
                            "ClusterId",
                            "ProcId",
                            "JobStatus",
                            "HoldReason",
                        ]
                    )
                )
        return {num: events[sid] for num, sid in job_ids.items() if sid in events}

    @staticmethod
    def _ask(argv: list[str]) -> dict[str, Observation]:
        done = run_scheduler(argv)
        if done.returncode != 0:
            raise BackendFailure(f"{argv[0]} failed: {first_line(done.stderr)}")
        return parse_q(done.stdout)

    def remove(self, job_ids: Sequence[str]) -> None:
        # condor_rm exits 1 when one of the jobs already left the queue: not an error here.
        done = run_scheduler(["condor_rm", *job_ids])
        if done.returncode != 0 and "not found" not in done.stderr:
            raise BackendFailure(f"condor_rm failed: {first_line(done.stderr)}")
