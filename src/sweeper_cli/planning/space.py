"""The search a config asks for, read by Hydra's own Optuna sweeper plugin.

A config whose `hydra/sweeper` is Hydra's Optuna sweeper (an `hparams_search` config selects
it with `override /hydra/sweeper: optuna`) asks for a search, not a grid. The sweeper is
instantiated from the composed config as Hydra instantiates it, and its own code turns
`hydra.sweeper.params` and the command line into the search space and each trial into its
overrides, so the sampler, its seed, the directions, `n_trials`, `n_jobs` and every
trial's overrides are Hydra's. Only the loop that asks, runs and tells is ours (see
`controller`). Imports Hydra and Optuna: never on the `status` path.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.planning.error_text import one_line

OPTUNA_SWEEPER = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
EXTRA = "pip install 'thesis-sweep[tune]'"
NEEDS_EXTRA = (
    "the config selects Hydra's Optuna sweeper, which needs the tune extra "
    f"(Optuna and Hydra's Optuna sweeper plugin): {EXTRA}"
)
OBJECTIVE_KEYS = ("thesis_sweep.objective", "optimized_metric")


def plugin_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
    except (ImportError, ValueError):
        return False


def selects_search(cfg: Any) -> bool:
    from omegaconf import OmegaConf

    return bool(OmegaConf.select(cfg, "hydra.sweeper._target_") == OPTUNA_SWEEPER)


@dataclass
class Space:
    """What Hydra's Optuna sweeper has computed when it asks for its first trial."""

    sweeper: Any  # the plugin's OptunaSweeperImpl, holding the sampler
    distributions: dict[str, Any]  # searched keys, in Hydra's order
    fixed: dict[str, Any]  # the other task overrides, as Hydra passes them to every trial
    directions: list[str]
    n_trials: int
    n_jobs: int
    max_failure_rate: float

    def overrides(self, trials: Sequence[Any]) -> list[tuple[str, ...]]:
        """Each trial's overrides, suggested and written by the plugin itself (a trial
        that already has its values gets them again: Optuna returns stored values)."""
        made = self.sweeper._configure_trials(list(trials), self.distributions, self.fixed)
        return [tuple(str(o) for o in overrides) for overrides in made]

    def probes(self) -> list[tuple[str, ...]]:
        """Overrides that reach every choice and both ends of every range: composing them
        checks the search space before any trial runs."""
        first = {name: _values(dist)[0] for name, dist in self.distributions.items()}
        probes = [first]
        for name, dist in self.distributions.items():
            probes += [{**first, name: value} for value in _values(dist)[1:]]
        fixed = [f"{name}={value}" for name, value in self.fixed.items()]
        return [tuple([*(f"{k}={v}" for k, v in p.items()), *fixed]) for p in probes]

    def describe(self) -> dict[str, Any]:
        """The search, for the runs index and `run --dry-run`."""
        sampler = self.sweeper.sampler
        return {
            "sampler": type(sampler).__name__,
            "seed": _seed(self.sweeper),
            "directions": list(self.directions),
            "n_trials": self.n_trials,
            "n_jobs": self.n_jobs,
            "max_failure_rate": self.max_failure_rate,
            "params": {name: _describe(dist) for name, dist in self.distributions.items()},
            "fixed": {name: str(value) for name, value in self.fixed.items()},
            "storage": _text(self.sweeper.storage),
            "study_name": _text(self.sweeper.study_name),
        }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _seed(sweeper: Any) -> int | None:
    from omegaconf import OmegaConf

    seed = OmegaConf.select(sweeper.config, "hydra.sweeper.sampler.seed", default=None)
    return seed if isinstance(seed, int) else None


def _values(dist: Any) -> list[Any]:
    if hasattr(dist, "choices"):
        return list(dist.choices)
    return [dist.low] if dist.low == dist.high else [dist.low, dist.high]


def _describe(dist: Any) -> str:
    kind = type(dist).__name__.replace("Distribution", "")
    if hasattr(dist, "choices"):
        return f"choice({', '.join(map(str, dist.choices))})"
    return f"{kind}({dist.low}, {dist.high})"


def open_space(cfg: Any, task_overrides: Sequence[str]) -> Space:
    """Instantiate the sweeper from the composed MULTIRUN config and compute the search
    space exactly as its `sweep()` does before the first trial."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from hydra.utils import instantiate
    from omegaconf.errors import OmegaConfBaseException

    if not plugin_installed():
        raise BadInput(NEEDS_EXTRA)
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    HydraConfig.instance().set_config(cfg)
    try:
        sweeper = instantiate(cfg.hydra.sweeper).sweeper
        sweeper.config = cfg  # what its setup() keeps (the custom search space reads it)
        sweeper.job_idx = 0
        sweeper._process_searchspace_config()
        arguments = [*sweeper._parse_sweeper_params_config(), *task_overrides]
        from_overrides, fixed = create_params_from_overrides(arguments)
    except (HydraException, OmegaConfBaseException, ValueError, TypeError, AssertionError) as exc:
        raise BadInput(f"the Optuna sweeper config: {one_line(exc)}") from exc
    distributions = dict(sweeper.search_space_distributions or {})
    distributions.update(from_overrides)
    n_trials = int(sweeper.n_trials)
    if _is_grid(sweeper.sampler):
        choices = {n: sweeper._to_grid_sampler_choices(d) for n, d in distributions.items()}
        sweeper.sampler = sweeper.sampler(choices)
        size = functools.reduce(lambda a, b: a * b, (len(c) for c in choices.values()), 1)
        n_trials = min(n_trials, size)
    for name in fixed:
        distributions.pop(name, None)
    if n_trials < 1 or int(sweeper.n_jobs) < 1:
        raise BadInput("hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be at least 1")
    return Space(
        sweeper=sweeper,
        distributions=distributions,
        fixed=fixed,
        directions=list(sweeper._get_directions()),
        n_trials=n_trials,
        n_jobs=int(sweeper.n_jobs),
        max_failure_rate=float(sweeper.max_failure_rate),
    )


def _is_grid(sampler: Any) -> bool:
    import optuna

    return isinstance(sampler, functools.partial) and sampler.func == optuna.samplers.GridSampler


def objectives(cfg: Any, flag: str | None, directions: Sequence[str]) -> tuple[str, ...]:
    """The metric(s) a trial's value is read from: --objective, else the config's
    `thesis_sweep.objective`, else its `optimized_metric`; one per direction."""
    from omegaconf import OmegaConf

    value: Any = flag
    if value is None:
        for key in OBJECTIVE_KEYS:
            value = OmegaConf.select(cfg, key, default=None)
            if value is not None:
                break
    if value is None:
        raise BadInput(
            "the search needs an objective: --objective KEY (a metric the app writes, e.g. "
            "val_loss in facts/metrics.json), or thesis_sweep.objective or optimized_metric "
            "in the config"
        )
    if isinstance(value, str):
        names = tuple(part.strip() for part in value.split(",") if part.strip())
    else:  # a list in the config
        items = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        names = tuple(str(v) for v in items) if isinstance(items, list) else (str(items),)
    if len(names) != len(directions):
        raise BadInput(
            f"the search has {len(directions)} direction(s) ({', '.join(directions)}) but "
            f"{len(names)} objective(s) ({', '.join(names) or 'none'}): give one metric per "
            "direction, e.g. --objective val_loss,val_acc"
        )
    return names
