"""The search controller's loop: ask Optuna for trials, run each one as a job of the
sweep, read its objective from the run's files and tell Optuna.

It does what Hydra's Optuna sweeper does: ask a batch of `n_jobs` trials, let the plugin
turn them into overrides, run them (here: make their jobs, launch them on the sweep's
backend, wait), tell each trial its value or that it failed, stop when a batch fails more
than `max_failure_rate`, until `n_trials`; then write optimization_results.yaml. A search
found begun (its controller killed, the machine rebooted) goes on where it was: a trial
the study still has running is told what its job did, waited for, or run again, and the
sampler continues from its saved state, so no trial is asked or counted twice. It runs as
a detached process (`process`); the Optuna side is `study`.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput, Terminated
from sweeper_cli.launch.backends.base import Event, JobRef
from sweeper_cli.search.log import say
from sweeper_cli.search.study import (
    ATTR,
    as_record,
    best_jobs,
    open_study,
    our_trials,
    save_sampler,
    write_results,
)
from sweeper_cli.state import status, views
from sweeper_cli.states import State
from sweeper_cli.store import run_files, runs_index, search_files
from sweeper_cli.store.jobfiles import hostname, start_ticks
from sweeper_cli.store.search_files import CANCELLED, FINISHED, RUNNING, STOPPED

CLUSTER_INTERVAL = 2.0  # seconds between looks at the run dirs of a cluster batch


@dataclass
class Item:
    """One trial of a batch: its job, Optuna's trial and the job's overrides."""

    job: int
    trial: Any  # optuna.trial.Trial
    overrides: tuple[str, ...]


class Stop(Exception):
    """The search must stop now: a stop request (cancel) or SIGTERM."""


class Controller:
    def __init__(self, sweep_dir: Path, options: dict[str, Any]) -> None:
        self.sweep_dir = sweep_dir
        self.options = options
        self.index = runs_index.read_index(sweep_dir)
        self.header = self.index.header
        record = self.header.raw.get("search")
        if not isinstance(record, dict):
            raise BadInput(f"{sweep_dir.name} is not a search")
        self.record: dict[str, Any] = record
        self.objectives = [str(o) for o in record["objectives"]]
        self.me = {"host": hostname(), "pid": os.getpid(), "pid_start": start_ticks(os.getpid())}
        self.told: dict[int, search_files.Trial] = {}
        self.backend: Any = None
        self._checker: Any = None

    def checker(self, plan: Any) -> Any:
        """The trials' composition check, its caches kept for the whole search."""
        if self._checker is None:
            from sweeper_cli.planning.validate import TrialChecker

            self._checker = TrialChecker(plan)
        return self._checker

    # --- the search ------------------------------------------------------------------

    def run(self) -> int:
        plan = self.replan()
        space = plan.search
        study = open_study(self.sweep_dir, self.record, self.header.id, space)
        self.backend = self.make_backend()
        self.report(RUNNING, None, study)  # `spawn` returns once this is on disk
        withdrawn = search_files.stop_request(self.sweep_dir)
        search_files.withdraw_stop(self.sweep_dir)
        if withdrawn:
            say(f"an earlier stop request ({withdrawn}) is withdrawn: this is a new start")
        try:
            ours = our_trials(study, self.header.id)
            self.told = {job: as_record(job, t) for job, t in ours.items()}
            unfinished = [(job, t) for job, t in sorted(ours.items()) if t.state.name == "RUNNING"]
            failed = self.finish_begun(study, space, plan, unfinished)
            if self.too_many(failed, len(unfinished), space):
                return self.stopped(failed, len(unfinished), space, study)
            remaining = space.n_trials - len(ours)
            next_job = max(ours, default=-1) + 1
            while remaining > 0:
                self.check_stop()
                size = min(space.n_jobs, remaining)
                trials = [study.ask() for _ in range(size)]
                for offset, trial in enumerate(trials):
                    trial.set_system_attr(ATTR, {"sweep": self.header.id, "job": next_job + offset})
                batch = [
                    Item(next_job + k, trial, overrides)
                    for k, (trial, overrides) in enumerate(
                        zip(trials, space.overrides(trials), strict=True)
                    )
                ]
                save_sampler(self.sweep_dir, study)
                self.make_jobs(batch, again=False)
                failed = self.run_batch(study, plan, batch, launch=[i.job for i in batch])
                if self.too_many(failed, size, space):
                    return self.stopped(failed, size, space, study)
                remaining -= size
                next_job += size
        except (Stop, KeyboardInterrupt) as exc:
            reason = search_files.stop_request(self.sweep_dir) or (
                "terminated (SIGTERM)" if isinstance(exc, Terminated) else str(exc) or "stopped"
            )
            say(f"search cancelled: {reason}; `thesis-sweep resume` continues it")
            self.report(CANCELLED, reason, study)
            return 1
        return self.finish(study, space)

    def finish(self, study: Any, space: Any) -> int:
        """Write optimization_results.yaml as Hydra does, and the final state."""
        done = [t for t in study.trials if t.state.name == "COMPLETE"]
        if not done:
            self.report(FINISHED, "no trial completed: there is no best value", study)
            say("search finished without a completed trial")
            return 1
        write_results(self.sweep_dir, study, space)
        self.report(FINISHED, None, study)
        return 0

    def stopped(self, failed: int, size: int, space: Any, study: Any) -> int:
        reason = (
            f"{failed} of {size} trial(s) of a batch failed, more than max_failure_rate "
            f"{space.max_failure_rate} allows (as Hydra's Optuna sweeper stops)"
        )
        say(f"search stopped: {reason}")
        self.report(STOPPED, reason, study)
        return 1

    @staticmethod
    def too_many(failed: int, size: int, space: Any) -> bool:
        return size > 0 and failed / size > space.max_failure_rate

    def check_stop(self) -> None:
        reason = search_files.stop_request(self.sweep_dir)
        if reason:
            raise Stop(reason)

    # --- the study ---------------------------------------------------------------------

    def replan(self) -> Any:
        """The search as the config says now; it must be the one the sweep started with."""
        from sweeper_cli.planning.plan import UNSPECIFIED, plan_sweep

        header = self.header
        cwd = header.text("cwd")
        if cwd:
            os.chdir(cwd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = plan_sweep(
                Path(str(header.text("config_dir"))),
                str(header.text("config_name")),
                header.strings("overrides"),
                version_base=header.raw.get("version_base", UNSPECIFIED),
            )
        if plan.search is None:
            raise BadInput("the config no longer selects Hydra's Optuna sweeper")
        now = plan.search.describe()
        for key in ("params", "fixed", "directions", "n_trials", "n_jobs", "sampler", "seed"):
            if now.get(key) != self.record.get(key):
                raise BadInput(
                    f"the search config changed since the sweep started ({key}: was "
                    f"{self.record.get(key)!r}, now {now.get(key)!r}); start a new search"
                )
        return plan

    def finish_begun(
        self, study: Any, space: Any, plan: Any, begun: Sequence[tuple[int, Any]]
    ) -> int:
        """Trials an earlier controller asked for and never told: their jobs are made if
        missing, waited for if running, run again if they never ran or were stopped."""
        import optuna

        if not begun:
            return 0
        live = [optuna.trial.Trial(study, frozen._trial_id) for _, frozen in begun]
        batch = [
            Item(job, trial, overrides)
            for (job, _), trial, overrides in zip(begun, live, space.overrides(live), strict=True)
        ]
        view = status.observe(self.sweep_dir, only={job for job, _ in begun})
        known = {j.num: j for j in view.jobs}
        missing = [item for item in batch if item.job not in known]
        self.make_jobs(missing, again=True)
        rerun = {State.QUEUED, State.CANCELLED, State.LOST}
        launch = [i.job for i in missing]
        for item in batch:
            job = known.get(item.job)
            unsubmitted = job is not None and (job.reason or "").startswith("not submitted")
            if job is None or (job.state not in rerun and not unsubmitted):
                continue
            if job.state is State.QUEUED and self.header.backend != "local" and job.scheduler_id:
                continue  # still in the scheduler's queue: wait for it
            launch.append(item.job)
        say(f"continuing {len(batch)} trial(s) begun earlier (job(s) {_nums(batch)})")
        return self.run_batch(study, plan, batch, launch=launch)

    # --- jobs --------------------------------------------------------------------------

    def make_jobs(self, batch: Sequence[Item], again: bool) -> None:
        from sweeper_cli.planning.sweep import add_trials

        if batch:
            add_trials(self.sweep_dir, self.header, [(i.job, i.overrides) for i in batch], again)

    def make_backend(self) -> Any:
        from sweeper_cli.launch.backends.registry import get_backend
        from sweeper_cli.launch.gpus import GpuPool
        from sweeper_cli.project.profiles import Profile

        opts = self.options
        backend = self.header.backend
        if backend == "local":
            gpus = opts.get("gpus") or []
            pool = (
                GpuPool(gpus, opts.get("per_gpu") or 1, opts.get("per_job") or 1) if gpus else None
            )
            return get_backend(
                "local",
                None,
                max_parallel=opts.get("jobs") or 1,
                gpu_pool=pool,
                warm=opts.get("warm") or "off",
                keep_warm=True,
                observe=status.observe_run,
            )
        profile = opts.get("profile") or self.header.raw.get("profile")
        return get_backend(
            backend,
            Profile.from_json(profile if isinstance(profile, dict) else None, backend),
            max_parallel=opts.get("max_parallel"),
            python=self.header.text("python"),
        )

    def run_batch(self, study: Any, plan: Any, batch: Sequence[Item], launch: Sequence[int]) -> int:
        """Run what needs running, wait for the whole batch, tell each trial; the number
        of trials that failed (a job cancelled by the user is not a failure of the app)."""
        from sweeper_cli.state import lifecycle

        view = status.observe(self.sweep_dir, ask_scheduler=False, only={i.job for i in batch})
        jobs = {j.num: j for j in view.jobs}
        refs = []
        before = len(view.submissions)
        for item in batch:
            if item.job not in launch:
                continue
            job = jobs[item.job]
            assert job.run_dir is not None
            problem = self.checker(plan).problem(item.overrides)
            if problem is not None:
                self.refuse(item, job, problem)
                continue
            if job.state is not State.QUEUED:  # a job that ran or was stopped before
                lifecycle.requeue(job, before)
            refs.append(JobRef(job.num, job.run_dir))
        say(f"trial(s) {_trials(batch)} as job(s) {_nums(batch)}: running {len(refs)}")
        if refs:
            if self.header.backend == "local":
                self.backend.launch(self.sweep_dir, refs, self.event)
            else:
                self.check_stop()
                again = {ref.num for ref in refs}
                old = [
                    JobRef(j.num, j.run_dir, j.scheduler_id)
                    for j in view.jobs
                    if j.num in again and j.run_dir and j.scheduler_id
                ]
                if old:  # a held or pending copy of a trial run again must not run too
                    self.backend.cancel(self.sweep_dir, old)
                sub = self.backend.launch(self.sweep_dir, refs, None)
                say(f"submitted as {sub.scheduler_id}")
        ended = self.wait({i.job for i in batch})
        return self.tell(study, batch, ended)

    def refuse(self, item: Item, job: views.JobView, problem: str) -> None:
        """A trial whose config does not compose fails without running, in Hydra's words."""
        assert job.run_dir is not None
        run_files.write_status(
            job.run_dir,
            {
                "num": job.num,
                "state": State.FAILED.value,
                "attempt": job.attempts,
                "reason": f"does not compose: {problem}",
            },
        )

    def event(self, event: Event) -> None:
        if event.kind == "finished":
            detail = f" ({event.detail})" if event.detail else ""
            say(f"job {event.num} {event.state}{detail}")
        elif event.kind == "note":
            say(f"note: {event.detail}")

    def wait(self, nums: set[int]) -> dict[int, views.JobView]:
        """Until every job in `nums` has ended (asking a scheduler at most every `poll`)."""
        poll = float(self.options.get("poll") or 30.0)
        cluster = self.header.backend != "local"
        asked = 0.0
        answers = None
        while True:
            ask = cluster and time.monotonic() - asked >= poll
            if ask:
                asked = time.monotonic()
            view = status.observe(self.sweep_dir, ask_scheduler=ask, answers=answers, only=nums)
            answers = view.answers or answers
            jobs = {j.num: j for j in view.jobs if j.num in nums}
            if all(j.state.is_terminal() for j in jobs.values()) and len(jobs) == len(nums):
                return jobs
            self.check_stop()
            time.sleep(CLUSTER_INTERVAL if cluster else 0.5)

    def tell(self, study: Any, batch: Sequence[Item], ended: dict[int, views.JobView]) -> int:
        """Tell Optuna each trial's outcome as Hydra's sweeper does; count the failures."""
        import optuna

        from sweeper_cli.results.metrics import metric_value

        failures = 0
        for item in batch:
            job = ended[item.job]
            values: list[float] | None = None
            why = None
            if job.state is State.SUCCEEDED:
                assert job.run_dir is not None
                values, why = self.read_values(job.run_dir, metric_value)
            else:
                why = f"job {job.state.value}" + (f": {job.reason}" if job.reason else "")
            try:
                if why is not None:
                    raise ValueError(why)
                try:
                    study.tell(
                        trial=item.trial, state=optuna.trial.TrialState.COMPLETE, values=values
                    )
                except RuntimeError as exc:  # a GridSampler that ran out (as Hydra lets it)
                    if "`Study.stop` is supposed to be invoked" not in str(exc):
                        raise
            except Exception as exc:
                study.tell(trial=item.trial, state=optuna.trial.TrialState.FAIL)
                say(f"trial {item.trial.number} (job {item.job}) failed: {exc}")
                if job.state is not State.CANCELLED:
                    failures += 1
            frozen = study._storage.get_trial(item.trial._trial_id)
            self.told[item.job] = as_record(item.job, frozen, why)
            if frozen.state.name == "COMPLETE":
                say(f"trial {item.trial.number} (job {item.job}): {frozen.values}")
        self.report(RUNNING, None, study)
        return failures

    def read_values(self, run_dir: Path, read: Any) -> tuple[list[float] | None, str | None]:
        values = []
        for name in self.objectives:
            try:
                value = read(run_dir, name)
            except (OSError, ValueError) as exc:
                return None, f"cannot read the objective {name!r}: {exc}"
            if value is None:
                return None, f"the run's files have no metric {name!r}"
            values.append(value)
        return values, None

    def report(self, state: str, reason: str | None, study: Any = None) -> None:
        best: list[int] = []
        if study is not None:
            best = best_jobs(study, self.told)
        search_files.write_state(
            self.sweep_dir,
            {
                "state": state,
                "reason": reason,
                "controller": self.me,
                "n_trials": self.record.get("n_trials"),
                "objectives": self.objectives,
                "directions": self.record.get("directions"),
                "trials": [t.as_json() for _, t in sorted(self.told.items())],
                "best": best,
                "options": self.options,
            },
        )


def _nums(batch: Sequence[Item]) -> str:
    return ", ".join(str(i.job) for i in batch)


def _trials(batch: Sequence[Item]) -> str:
    return ", ".join(str(i.trial.number) for i in batch)
