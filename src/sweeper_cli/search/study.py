"""The Optuna side of a search: its study and sampler (saved after every ask, so a resumed
search samples as an uninterrupted one would), this sweep's trials in the study, their
records for `status`, and optimization_results.yaml as Hydra's Optuna sweeper writes it.
Imports Optuna and OmegaConf inside its functions only."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sweeper_cli.search.log import say
from sweeper_cli.store import jobfiles, layout, search_files

ATTR = "thesis_sweep"  # a trial's system attribute: {"sweep": id, "job": num}


def open_study(sweep_dir: Path, record: Mapping[str, Any], sweep_id: str, space: Any) -> Any:
    """The search's study (created, or loaded as an earlier controller left it)."""
    import optuna

    storage = record.get("storage") or search_files.study_url(sweep_dir)
    name = record.get("study_name") or sweep_id
    sampler = load_sampler(sweep_dir, space.sweeper.sampler)
    say(f"study {name!r} in {storage}; sampler {type(sampler).__name__}")
    return optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        directions=space.directions,
        load_if_exists=True,
    )


def load_sampler(sweep_dir: Path, fresh: Any) -> Any:
    """The sampler as the last asks left it (so a resumed search samples as an
    uninterrupted one would), else the config's."""
    path = search_files.folder(sweep_dir) / search_files.SAMPLER_FILE
    try:
        with open(path, "rb") as handle:
            saved = pickle.load(handle)  # noqa: S301 - our own file in our own sweep
    except FileNotFoundError:
        return fresh
    except Exception as exc:  # a damaged file: the config's sampler will do
        say(f"sampler state not restored ({type(exc).__name__}): sampling starts afresh")
        return fresh
    return saved if type(saved) is type(fresh) else fresh


def save_sampler(sweep_dir: Path, study: Any) -> None:
    path = search_files.folder(sweep_dir) / search_files.SAMPLER_FILE
    try:
        jobfiles.atomic_write_bytes(path, pickle.dumps(study.sampler))
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
        say(f"sampler state not saved ({type(exc).__name__}): a resume samples afresh")


def our_trials(study: Any, sweep_id: str) -> dict[int, Any]:
    """This sweep's trials in the study, by job number (the study may be shared)."""
    found = {}
    for trial in study.get_trials(deepcopy=False):
        mark = trial.system_attrs.get(ATTR)
        if isinstance(mark, dict) and mark.get("sweep") == sweep_id:
            found[int(mark["job"])] = trial
    return found


def as_record(job: int, frozen: Any, note: str | None = None) -> search_files.Trial:
    """A trial as search/state.json records it for `status`."""
    state = {"COMPLETE": "complete", "FAIL": "failed", "RUNNING": "running"}.get(
        frozen.state.name, frozen.state.name.lower()
    )
    values = tuple(frozen.values) if frozen.values is not None else None
    return search_files.Trial(job, frozen.number, state, values, note)


def best_jobs(study: Any, told: Mapping[int, search_files.Trial]) -> list[int]:
    """The jobs of the best trial (or the Pareto front) among those told so far."""
    by_number = {t.number: job for job, t in told.items()}
    try:
        best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    except ValueError:  # nothing completed yet
        return []
    return [by_number[t.number] for t in best if t.number in by_number]


def write_results(sweep_dir: Path, study: Any, space: Any) -> None:
    """optimization_results.yaml as Hydra's Optuna sweeper writes it (a completed trial
    exists): the best parameters and value, or the Pareto front."""
    from omegaconf import OmegaConf

    if len(space.directions) < 2:
        best = study.best_trial
        results: dict[str, Any] = {
            "name": "optuna",
            "best_params": _in_order(best.params, space),
            "best_value": best.value,
        }
        say(f"best parameters: {results['best_params']}; best value: {best.value}")
    else:
        front = [
            {"params": _in_order(t.params, space), "values": t.values} for t in study.best_trials
        ]
        results = {"name": "optuna", "solutions": front}
        say(f"{len(front)} Pareto-optimal trial(s)")
    text = OmegaConf.to_yaml(OmegaConf.create(results))
    layout.atomic_write_text(sweep_dir / search_files.RESULTS_FILE, text)


def _in_order(params: dict[str, Any], space: Any) -> dict[str, Any]:
    """A trial's parameters in the order Hydra's sweeper suggests them (its in-memory study
    keeps that order; the SQLite study sorts them by name)."""
    first = {name: params[name] for name in space.distributions if name in params}
    return {**first, **{k: v for k, v in params.items() if k not in first}}
