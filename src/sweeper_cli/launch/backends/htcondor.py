r"""HTCondor: one cluster per launch (`queue num from` an item list), status from the job
event log (then `condor_q` / `condor_history`), `condor_rm` to cancel.

Facts this relies on (HTCondor 23, condor_submit(1), condor_q(1), the job event log, and
the recordings in tests/data/htcondor):
- Jobs of `queue num from FILE` get ProcIds 0, 1, ... in the order of the file's lines;
  `condor_submit -terse` prints `<cluster>.<first> - <cluster>.<last>`.
- The event log (`log =`) is a list of blocks, each a header line
  `NNN (<cluster>.<proc>.000) <date> <text>`, detail lines, then `...`: 000 submitted,
  001 executing, 004 evicted, 005 terminated ("(1) Normal termination (return value N)" or
  "(0) Abnormal termination (signal S)"), 009 aborted ("via condor_rm (by user u)"),
  012 held (the reason, then "Code C Subcode S"), 013 released, 022 disconnected (the
  shadow lost its starter: a node failure, or two holds at one instant), 023 reconnected,
  024 reconnection failed (followed by 004: it runs again).
- Hold codes: 1 condor_hold, 15 submitted on hold, 16 spooling (a release runs it again);
  34 out of resources and 21 with a memory reason (HOLD_IF_MEMORY_EXCEEDED) mean memory;
  46 allowed_job_duration, 47 allowed_execute_duration mean time; 3 and 26 are site
  policies (their reason says which limit). An evicted or released job is rerun from scratch.
- JobStatus: 1 idle, 2 running, 3 removed, 4 completed, 5 held, 6 transferring output,
  7 suspended. `-af:t` separates values with tabs (reasons hold spaces); a missing
  attribute is `undefined`.
- A time limit that holds on a shared file system (no file transfer) is
  `allowed_job_duration`; `allowed_execute_duration` needs file transfer.
- `checkpoint_exit_code = N`: a job exiting N is run again at once, in the same slot.
- In a submit file `$` starts a macro (`$(x)`, `$ENV(x)`, `$RANDOM_CHOICE(...)`): a path
  holding it cannot be written literally; values are stripped and a trailing `\` continues
  the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from sweeper_cli.errors import BackendFailure
from sweeper_cli.launch.backends.base import Observation, Submission
from sweeper_cli.launch.backends.cluster import ClusterBackend
from sweeper_cli.launch.backends.commands import SUBMIT_TIMEOUT, first_line, run_scheduler
from sweeper_cli.launch.backends.jobscript import unit
from sweeper_cli.project.profiles import Profile
from sweeper_cli.project.resources import time_seconds
from sweeper_cli.project.submit_lines import htcondor_defaults_given
from sweeper_cli.states import Cause, State
from sweeper_cli.store import submissions

_EVENT = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.\d+\) \S+ \S+ ?(.*)$")
_RETURN = re.compile(r"return value (-?\d+)")
_SIGNAL = re.compile(r"signal (\d+)")
_CODES = re.compile(r"Code (\d+) Subcode (\d+)")
_TERSE = re.compile(r"(\d+)\.(\d+)\s*-\s*\d+\.(\d+)")
AD_ATTRIBUTES = (
    "ClusterId",
    "ProcId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "NumJobStarts",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "LastHoldReasonCode",
    "LastHoldReason",
    "RemoveReason",
    "HoldReason",
)
RUNNING_WORDS = "running in HTCondor; its runner has not reported yet"
DISCONNECTED_WORDS = (
    "disconnected from its execute node (HTCondor tries to reconnect until the job lease ends)"
)


def _environment_value(value: str) -> str:
    """One value in HTCondor's environment syntax: single-quoted, a single quote inside
    doubled, a double quote doubled (the profile refuses `$`, which starts a macro)."""
    quoted = "'" + value.replace("'", "''") + "'"
    return quoted.replace('"', '""')


def render_environment(env: Mapping[str, str]) -> str:
    """The `environment` command: the profile's variables, then thesis-sweep's own."""
    entries = [f"{key}={_environment_value(value)}" for key, value in env.items()]
    entries.append("THESIS_SWEEP_SCHEDULER_ID=$(Cluster).$(Process)")
    return 'environment = "' + " ".join(entries) + '"'


def render_submit(
    sweep_name: str,
    submit_dir: Path,
    job_script: Path,
    items: Path,
    log: Path,
    initialdir: Path,
    profile: Profile,
    max_parallel: int | None = None,
    logs: Path | None = None,
) -> str:
    """The submit description of one cluster (re-submittable with `condor_submit FILE`);
    the scheduler's .out/.err files go to `logs` (default: the submit folder)."""
    logs = logs or submit_dir
    given = htcondor_defaults_given(profile.extra)
    lines = [
        f"# thesis-sweep submission of {sweep_name}: one {unit(job_script)} per line of "
        f"{items.name}",
        *([] if "universe" in given else ["universe = vanilla"]),
        f"executable = {job_script}",
        "arguments = $(num)",
        f"initialdir = {initialdir}",
        f"output = {logs}/condor-$(Cluster)_$(num).out",
        f"error = {logs}/condor-$(Cluster)_$(num).err",
        f"log = {log}",
        render_environment(profile.env),
        *([] if "batch_name" in given else [f"batch_name = ts-{sweep_name}"]),
    ]
    if profile.cpus:
        lines.append(f"request_cpus = {profile.cpus}")
    if profile.memory:
        lines.append(f"request_memory = {profile.memory}")
    if profile.gpus:
        lines.append(f"request_gpus = {profile.gpus}")
    if profile.time:
        # allowed_execute_duration needs file transfer: on a shared file system it does
        # nothing; allowed_job_duration holds the job when it runs longer (code 46).
        lines.append(f"allowed_job_duration = {time_seconds(profile.time)}")
    if profile.account:
        lines.append(f"accounting_group = {profile.account}")
    if profile.checkpoint_exit_code:
        lines.append(f"checkpoint_exit_code = {profile.checkpoint_exit_code}")
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


def hold_observation(code: int | None, subcode: int | None, reason: str) -> Observation:
    """What a hold means: a release runs it again (condor_hold), or a limit ended it."""
    text = " ".join(reason.split()) or "no reason given"
    lower = text.lower()
    if code == 34 or subcode == 102 or (code in (3, 21, 26) and "memory" in lower):
        return Observation(
            State.FAILED, f"out of memory: held by HTCondor ({text})", Cause.OUT_OF_MEMORY
        )
    time_words = ("duration", "time limit", "walltime", "runtime")
    if code in (46, 47) or (code in (3, 26) and any(w in lower for w in time_words)):
        return Observation(State.FAILED, f"time limit: held by HTCondor ({text})", Cause.TIME_LIMIT)
    if code in (1, 15, 16):
        return Observation(State.QUEUED, f"held: {text} (condor_release runs it)", Cause.HELD)
    where = "" if code is None else f" (hold code {code})"
    return Observation(State.FAILED, f"held by HTCondor: {text}{where}", Cause.HELD)


def _ended(exit_code: str, signal: str | None) -> Observation:
    how = f"signal {signal}" if signal else f"exit {exit_code}"
    return Observation(State.FAILED, f"ended ({how}) before its runner reported")


def _events(text: str) -> Iterator[tuple[str, str, list[str]]]:
    """(event code, '<cluster>.<proc>', lines after the header) of each event block."""
    block: tuple[str, str, list[str]] | None = None
    for line in text.splitlines():
        match = _EVENT.match(line)
        if match:
            if block:
                yield block
            job = f"{int(match.group(2))}.{int(match.group(3))}"
            block = (match.group(1), job, [match.group(4)])
        elif line.strip() == "...":
            if block:
                yield block
            block = None
        elif block:
            block[2].append(line.strip())
    if block:
        yield block


def parse_event_log(text: str) -> dict[str, Observation]:
    """The last meaningful event of each job in an event log: {'<cluster>.<proc>': ...}."""
    found: dict[str, Observation] = {}
    for code, job, lines in _events(text):
        details = [line for line in lines[1:] if line]
        first = details[0] if details else ""
        if code == "000":
            found[job] = Observation(State.QUEUED, "idle")
        elif code == "001":
            found[job] = Observation(State.RUNNING, RUNNING_WORDS)
        elif code == "004":
            found[job] = Observation(
                State.QUEUED, "evicted by HTCondor: it runs again", Cause.PREEMPTED
            )
        elif code == "013":
            found[job] = Observation(State.QUEUED, "released: it runs again")
        elif code == "022":
            found[job] = Observation(State.RUNNING, DISCONNECTED_WORDS)
        elif code == "023":
            found[job] = Observation(State.RUNNING, RUNNING_WORDS)
        elif code == "012":
            codes = next((m for m in map(_CODES.search, details) if m), None)
            hold, sub = (int(codes.group(1)), int(codes.group(2))) if codes else (None, None)
            found[job] = hold_observation(hold, sub, first)
        elif code == "009":
            found[job] = Observation(
                State.FAILED,
                f"removed outside thesis-sweep ({first or 'condor_rm'})",
                Cause.REMOVED,
            )
        elif code == "005":
            ret, sig = _RETURN.search(first), _SIGNAL.search(first)
            found[job] = _ended(
                ret.group(1) if ret else "?", None if ret else (sig.group(1) if sig else "?")
            )
    return found


def _number(value: str) -> int | None:
    return int(value) if value.lstrip("-").isdigit() else None


def ad_observation(ad: Mapping[str, str]) -> Observation | None:
    """What one job's attributes (condor_q or condor_history) say."""
    status = ad.get("JobStatus")
    if status in ("1", "7"):
        starts = _number(ad.get("NumJobStarts", "")) or 0
        if status == "7":
            return Observation(State.QUEUED, "suspended")
        if starts:
            return Observation(State.QUEUED, "idle again: HTCondor runs it again", Cause.PREEMPTED)
        return Observation(State.QUEUED, "idle")
    if status in ("2", "6"):
        return Observation(State.RUNNING, RUNNING_WORDS)
    if status == "5":
        return hold_observation(
            _number(ad.get("HoldReasonCode", "")),
            _number(ad.get("HoldReasonSubCode", "")),
            ad.get("HoldReason", ""),
        )
    if status == "3":
        why = ad.get("RemoveReason", "undefined")
        why = "condor_rm" if why == "undefined" else why
        return Observation(State.FAILED, f"removed outside thesis-sweep ({why})", Cause.REMOVED)
    if status == "4":
        by_signal = ad.get("ExitBySignal") == "true"
        return _ended(ad.get("ExitCode", "?"), ad.get("ExitSignal") if by_signal else None)
    return None


def parse_ads(text: str) -> dict[str, Observation]:
    """`condor_q`/`condor_history ... -af:t <AD_ATTRIBUTES>` -> {'<cluster>.<proc>': ...}."""
    found: dict[str, Observation] = {}
    for line in text.splitlines():
        values = line.split("\t")
        if len(values) != len(AD_ATTRIBUTES) or not values[0].isdigit():
            continue
        ad = dict(zip(AD_ATTRIBUTES, values, strict=True))
        seen = ad_observation(ad)
        if seen is not None:
            found[f"{ad['ClusterId']}.{ad['ProcId']}"] = seen
    return found


class HTCondorBackend(ClusterBackend):
    name = "htcondor"
    # `$` starts a macro ($(x), $ENV(x), $RANDOM_INTEGER(...)): refused outright.
    forbidden_in_paths = ("$",)

    def render(
        self, submit_dir: Path, job_script: Path, nums: Sequence[int], tag: int, logs: Path
    ) -> dict[str, str]:
        items = submit_dir / f"items-{tag}.txt"
        description = render_submit(
            submit_dir.parent.name,
            submit_dir,
            job_script,
            items,
            submit_dir / f"events-{tag}.log",
            submit_dir,
            self.profile,
            self.max_parallel,
            logs,
        )
        return {f"sweep-{tag}.sub": description, items.name: "".join(f"{n}\n" for n in nums)}

    def submit(self, submit_dir: Path, files: Mapping[str, str], nums: Sequence[int]) -> Submission:
        submit = next(submit_dir / name for name in files if name.endswith(".sub"))
        done = run_scheduler(
            ["condor_submit", "-terse", str(submit)], timeout=SUBMIT_TIMEOUT, cwd=submit_dir
        )
        if done.returncode != 0:
            raise BackendFailure(f"condor_submit refused the sweep: {first_line(done.stderr)}")
        cluster, first, last = parse_terse(done.stdout)
        if last - first + 1 != len(nums):
            raise BackendFailure(f"condor_submit queued {last - first + 1} jobs, not {len(nums)}")
        job_ids = {num: f"{cluster}.{first + i}" for i, num in enumerate(nums)}
        log = submit.name.replace("sweep-", "events-").replace(".sub", ".log")
        return Submission(cluster, job_ids, [*files, log])

    def observe(self, sweep_dir: Path, job_ids: Mapping[int, str]) -> dict[int, Observation]:
        """The event logs first; for jobs they do not mention, one condor_q, then one
        condor_history for what the queue no longer holds."""
        events: dict[str, Observation] = {}
        logs = sorted((sweep_dir / "submit").glob("events-*.log"))
        # A submission over several sweeps (a campaign) keeps its event log in its own folder.
        logs += [Path(s.event_log) for s in submissions.read_submissions(sweep_dir) if s.event_log]
        for log in dict.fromkeys(logs):
            try:
                events.update(parse_event_log(log.read_text(errors="replace")))
            except OSError:
                continue
        for command in ("condor_q", "condor_history"):
            missing = sorted({sid.split(".")[0] for sid in job_ids.values() if sid not in events})
            if not missing:
                break
            argv = [command, *(["-allusers"] if command == "condor_q" else []), *missing]
            events.update(self._ask([*argv, "-af:t", *AD_ATTRIBUTES]))
        return {num: events[sid] for num, sid in job_ids.items() if sid in events}

    @staticmethod
    def _ask(argv: list[str]) -> dict[str, Observation]:
        done = run_scheduler(argv)
        if done.returncode != 0:
            raise BackendFailure(f"{argv[0]} failed: {first_line(done.stderr)}")
        return parse_ads(done.stdout)

    def remove(self, job_ids: Sequence[str]) -> None:
        # condor_rm exits 1 when one of the jobs already left the queue: not an error here.
        done = run_scheduler(["condor_rm", *job_ids])
        if done.returncode != 0 and "not found" not in done.stdout + done.stderr:
            raise BackendFailure(f"condor_rm failed: {first_line(done.stderr)}")
