"""Overrides -> job list, exactly as Hydra 1.3's BasicSweeper does it.

The expansion is Hydra's own: the primary config is composed by Hydra's config loader in
MULTIRUN mode (as `Hydra.multirun` does), `hydra.sweeper.params` are prepended to the
command-line task overrides, both are parsed by Hydra's `OverridesParser` (with the config
loader, so `glob()` sees the config groups) and split by `BasicSweeper.split_arguments`.
Job numbers are positions in that product, as in Hydra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper_cli.errors import BadInput
from sweeper_cli.planning import space
from sweeper_cli.planning.error_text import one_line

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"

# Override keys thesis-sweep sets itself for every job, with the reason given to the user.
_OWNED_KEYS = {
    "hydra.run.dir": "thesis-sweep sets each job's hydra.run.dir itself (see --name and "
    "the run_dir_pattern setting)",
    "hydra.mode": "thesis-sweep launches every job as a single run (hydra.mode=RUN)",
    "hydra.job.num": "thesis-sweep numbers the jobs as Hydra's multirun does",
    "hydra.job.id": "thesis-sweep numbers the jobs as Hydra's multirun does",
    "hydra.job.name": "thesis-sweep sets hydra.job.name to the sweep name: use --name",
}
_OWNED_PREFIXES = {
    "hydra.sweep": "thesis-sweep writes the sweep folder itself (see the sweep_dir_pattern "
    "setting); hydra.sweep.* has no effect on single runs",
    "hydra/launcher": "thesis-sweep is the launcher: use -j/--backend instead",
    "hydra/sweeper": "thesis-sweep runs Hydra's basic sweeper (grids) and its Optuna "
    "sweeper (searches) only",
}
_SWEEPERS = {"basic", "optuna"}  # hydra/sweeper choices thesis-sweep runs itself
_MULTIRUN_FLAGS = {"-m", "--multirun"}
_MODE_OVERRIDE = "hydra.mode=MULTIRUN"


@dataclass(frozen=True)
class PlannedJob:
    """One combination of the sweep: Hydra's job number and its task overrides."""

    num: int
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The sweep as Hydra would run it, plus what every child needs beyond its overrides."""

    jobs: tuple[PlannedJob, ...]
    task_overrides: tuple[str, ...]
    hydra_overrides: tuple[str, ...]
    sweep_params: dict[str, str]
    swept_keys: tuple[str, ...]
    output_root: str | None
    profile: str | None  # `thesis_sweep.profile` of the composed primary config
    chdir: bool | None  # jobs run in their run dirs; None: they do not, by Hydra's default
    config: Any  # the composed MULTIRUN config (for multirun.yaml and validation)
    loader: Any  # Hydra's config loader, reused by validation
    search: Any = None  # `space.Space` when the config selects Hydra's Optuna sweeper


def hydra_quote(text: str) -> str:
    """Quote `text` with Hydra's own encoder so the override grammar keeps it literal."""
    from hydra.core.override_parser.types import Quote, QuotedString

    return str(QuotedString(text=text, quote=Quote.single).with_quotes())


def refuse_owned(overrides: list[str]) -> None:
    """Refuse flags and keys that would fight the tool, before Hydra parses anything."""
    for item in overrides:
        if item in _MULTIRUN_FLAGS:
            raise BadInput(f"'{item}': thesis-sweep always sweeps; drop the multirun flag")
        if item.startswith("-"):
            raise BadInput(
                f"unknown option '{item}' (Hydra flags such as -cn/-cd go before the "
                "overrides; see thesis-sweep run --help)"
            )


def _check_keys(parsed: list[Any]) -> None:
    for override in parsed:
        key = override.key_or_group
        if key in _OWNED_KEYS:
            raise BadInput(f"'{override.input_line}' is not allowed: {_OWNED_KEYS[key]}")
        if key == "hydra/sweeper" and override.value() in _SWEEPERS:
            continue
        for prefix, why in _OWNED_PREFIXES.items():
            if key == prefix or key.startswith(prefix + "."):
                raise BadInput(f"'{override.input_line}' is not allowed: {why}")


def make_loader(config_dir: Path) -> Any:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.utils import setup_globals

    setup_globals()  # Hydra's resolvers (hydra:, now:) as inside an app
    if not config_dir.is_dir():
        raise BadInput(f"config dir {config_dir} does not exist (set --config-dir/-cd)")
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(config_dir)))


DEFAULT_MAX_JOBS = 100_000


def count_jobs(parsed: list[Any]) -> int:
    """How many jobs `BasicSweeper.split_arguments` would make, without making them: the
    product of each key's value count (a later override of a key replaces the earlier)."""
    import math

    from hydra.core.override_parser.types import ChoiceSweep, Glob, RangeSweep

    counts: dict[str, int] = {}
    for override in parsed:
        key = override.get_key_element()
        if not override.is_sweep_override():
            counts[key] = 1
            continue
        value = override.value()
        if isinstance(value, list):
            counts[key] = len(value)
        elif isinstance(value, ChoiceSweep):
            counts[key] = len(value.list)
        elif isinstance(value, RangeSweep):
            counts[key] = _range_length(value)
        elif isinstance(value, Glob):
            counts[key] = sum(1 for _ in override.sweep_string_iterator())
        else:  # interval() and friends: split_arguments refuses them with Hydra's words
            counts[key] = 1
    return math.prod(counts.values())


def _range_length(sweep: Any) -> int:
    """len(range(...)) for int and float ranges, as Hydra's RangeSweep iterates them
    (floats as exact Decimals, like its FloatRange)."""
    from decimal import ROUND_CEILING, Decimal

    start, stop, step = sweep.start, sweep.stop, sweep.step
    if all(isinstance(v, int) for v in (start, stop, step)):
        return len(range(start, stop, step))
    begin, end, by = Decimal(start), Decimal(stop), Decimal(step)
    if by == 0:
        return 1  # Hydra refuses it when it expands the range
    if (by > 0 and begin >= end) or (by < 0 and begin <= end):
        return 0
    return int(((end - begin) / by).to_integral_value(rounding=ROUND_CEILING))


UNSPECIFIED = "unspecified"  # the app's @hydra.main gives no version_base (see discover)


def set_version_base(version_base: str | None) -> None:
    """Make Hydra behave as the app's `@hydra.main(version_base=...)` makes it (quietly:
    the app prints Hydra's own warnings when it runs)."""
    import warnings

    from hydra import version

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        version.setbase(version._UNSPECIFIED_ if version_base == UNSPECIFIED else version_base)


def plan_sweep(
    config_dir: Path,
    config_name: str,
    overrides: list[str],
    max_jobs: int = DEFAULT_MAX_JOBS,
    version_base: str | None = UNSPECIFIED,
) -> Plan:
    """Compose the primary config and expand the sweep into Hydra's job list, with the
    app's version_base governing every composition (Hydra reads it from a global)."""
    refuse_owned(overrides)
    set_version_base(version_base)
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    loader = make_loader(config_dir)
    parser = OverridesParser.create(config_loader=loader)
    try:
        _check_keys(parser.parse_overrides(overrides))
        # As Hydra's own `-m` does: the mode is an override, so multirun.yaml records it.
        cfg = loader.load_configuration(
            config_name, [*overrides, _MODE_OVERRIDE], run_mode=RunMode.MULTIRUN
        )
    except (HydraException, OmegaConfBaseException) as exc:
        if "hydra/sweeper/optuna" in str(exc) and not space.plugin_installed():
            raise BadInput(space.NEEDS_EXTRA) from exc
        raise BadInput(one_line(exc)) from exc

    sweeper_target = OmegaConf.select(cfg, "hydra.sweeper._target_")
    if sweeper_target not in (BASIC_SWEEPER, space.OPTUNA_SWEEPER):
        raise BadInput(
            f"the config selects the sweeper {sweeper_target}; thesis-sweep runs Hydra's "
            "basic sweeper (grids) and its Optuna sweeper (searches)"
        )
    launcher_target = OmegaConf.select(cfg, "hydra.launcher._target_")
    if launcher_target != BASIC_LAUNCHER:
        raise BadInput(
            f"the config selects the launcher {launcher_target}; thesis-sweep is the "
            "launcher: remove it and use -j or --backend"
        )

    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    params = {str(k): str(v) for k, v in params.items()}
    # Unresolved, as Hydra reads them: `${...}` in an override is each job's to resolve.
    task = [str(o) for o in _unresolved_list(cfg.hydra.overrides.task)]
    typed_hydra = _unresolved_list(cfg.hydra.overrides.hydra)
    hydra_overrides = [str(o) for o in typed_hydra if o != _MODE_OVERRIDE]
    if sweeper_target == space.OPTUNA_SWEEPER:
        try:
            _check_keys(parser.parse_overrides([f"{k}={v}" for k, v in params.items()]))
        except (HydraException, OmegaConfBaseException) as exc:
            raise BadInput(one_line(exc)) from exc
        searched = space.open_space(cfg, task)
        return Plan(
            jobs=(),
            task_overrides=tuple(task),
            hydra_overrides=tuple(hydra_overrides),
            sweep_params=params,
            swept_keys=tuple(searched.distributions),
            output_root=_output_root(cfg),
            profile=_selected_profile(cfg),
            chdir=_job_chdir(cfg),
            config=cfg,
            loader=loader,
            search=searched,
        )
    arguments = [f"{k}={v}" for k, v in params.items()] + task
    try:
        parsed = parser.parse_overrides(arguments)
        _check_keys(parsed)
        total = count_jobs(parsed)
        if total == 0:
            raise BadInput("the sweep has no jobs: one of its value lists is empty")
        if total > max_jobs:
            raise BadInput(
                f"the sweep has {total:,} jobs, more than the limit of {max_jobs:,} "
                "(raise it with --max-jobs or the max_jobs setting)"
            )
        batches = BasicSweeper.split_arguments(parsed, None)
    except (HydraException, OmegaConfBaseException) as exc:
        raise BadInput(one_line(exc)) from exc

    swept = tuple(o.get_key_element() for o in parsed if o.is_sweep_override())
    jobs = tuple(PlannedJob(num, tuple(combination)) for num, combination in enumerate(batches[0]))
    return Plan(
        jobs=jobs,
        task_overrides=tuple(task),
        hydra_overrides=tuple(hydra_overrides),
        sweep_params=params,
        swept_keys=tuple(dict.fromkeys(swept)),
        output_root=_output_root(cfg),
        profile=_selected_profile(cfg),
        chdir=_job_chdir(cfg),
        config=cfg,
        loader=loader,
    )


def _job_chdir(cfg: Any) -> bool | None:
    """Whether Hydra will move each job into its run dir: the config's hydra.job.chdir,
    else the version's default (1.1 yes; 1.2+ no, which gives None: nobody chose it)."""
    from hydra import version
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, "hydra.job.chdir", default=None)
    if value is not None:
        return bool(value)
    return True if not version.base_at_least("1.2") else None


def _selected_profile(cfg: Any) -> str | None:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, "thesis_sweep.profile", default=None)
    return None if value is None else str(value)


def _unresolved_list(node: Any) -> list[Any]:
    from omegaconf import OmegaConf

    items = OmegaConf.to_container(node, resolve=False)
    assert isinstance(items, list)
    return items


def _output_root(cfg: Any) -> str | None:
    """`env.output_root` of the composed config, resolved as the app would see it."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    env = cfg.get("env") if "env" in cfg else None
    if env is None or not OmegaConf.is_dict(env) or "output_root" not in env:
        return None
    HydraConfig.instance().set_config(cfg)
    try:
        value = OmegaConf.select(cfg, "env.output_root")
    except OmegaConfBaseException as exc:
        raise BadInput(f"cannot resolve env.output_root: {one_line(exc)}") from exc
    return None if value is None else str(value)


def multirun_yaml(plan: Plan, sweep_dir: Path) -> str:
    """multirun.yaml like Hydra's (the composed MULTIRUN config), pointing at our sweep dir."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(OmegaConf.to_container(plan.config, resolve=False))
    cfg.hydra.sweep.dir = str(sweep_dir)
    return str(OmegaConf.to_yaml(cfg))
