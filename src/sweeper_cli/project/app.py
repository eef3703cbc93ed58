"""The app a sweep runs: from the settings, else found in the project's source.

Settings name the app (`module`, `script` or `command`); what they leave out (config dir,
config name, version_base) comes from the app's own `@hydra.main` when its source can be
read. Without settings, a project with exactly one Hydra app runs that one, and says so
(`thesis-sweep init` writes it down). Stdlib-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sweeper_cli.errors import BadInput
from sweeper_cli.project import discover
from sweeper_cli.project.settings import Settings

INIT_HINT = "run `thesis-sweep init` to set up this project, or give --module/--script/--command"


@dataclass(frozen=True)
class Target:
    """Everything about the app that planning and launching need."""

    argv: list[str]  # the launch prefix: python -m module / python script / command
    config_dir: Path
    config_name: str
    version_base: str | None  # "1.3", None (the installed Hydra's), UNSPECIFIED (1.1)
    python_path: list[Path]
    pass_config_dir: bool  # forward -cd to each job (it differs from the app's own)
    pass_config_name: bool
    note: str | None = None  # how the app was found, when it was not configured


def _source(settings: Settings) -> discover.App | None:
    """The app's own decorator, when its source is at hand."""
    root = settings.project_root
    if settings["script"]:
        return discover.app_in(Path(settings["script"]), root)
    if settings["module"]:
        search = [*settings["python_path"], root]
        file = discover.module_file(settings["module"], search)
        return discover.app_in(file, root) if file else None
    return None


def _found(settings: Settings) -> tuple[discover.App, str]:
    apps = discover.find_apps(settings.project_root)
    if not apps:
        raise BadInput(
            f"no Hydra app (@hydra.main) found under {settings.project_root}; {INIT_HINT}"
        )
    if len(apps) > 1:
        names = ", ".join(str(a.file.relative_to(settings.project_root)) for a in apps[:5])
        raise BadInput(f"several Hydra apps found ({names}); {INIT_HINT}")
    app = apps[0]
    where = app.file.relative_to(settings.project_root)
    return app, f"using the Hydra app in {where} (`thesis-sweep init` saves this choice)"


def resolve_target(settings: Settings) -> Target:
    """The app to run, with its config dir, config name and version_base."""
    note = None
    configured = any(settings[k] for k in ("module", "script", "command"))
    if configured:
        source = _source(settings)
    else:
        source, note = _found(settings)
    python = settings["python"]
    if configured:
        argv = settings.app_argv
    else:
        assert source is not None
        import sys

        head = [python or sys.executable]
        argv = [*head, "-m", source.module] if source.module else [*head, str(source.file)]
    python_path = list(settings["python_path"]) or list(source.python_path if source else ())
    config_dir = settings["config_dir"] or (source.config_dir if source else None)
    if config_dir is None:
        why = "the app sets config_path=None" if source else "the app's source is not at hand"
        raise BadInput(f"no config dir: {why}; set config_dir in [tool.thesis-sweep] or -cd")
    config_name = settings["config_name"] or (source.config_name if source else None) or "config"
    if settings["version_base"] is not None:
        version_base: str | None = (
            None if settings["version_base"] == "none" else settings["version_base"]
        )
    else:
        version_base = source.version_base if source else discover.UNSPECIFIED
    own_dir = source.config_dir if source else None
    return Target(
        argv=argv,
        config_dir=Path(config_dir),
        config_name=config_name,
        version_base=version_base,
        python_path=python_path,
        pass_config_dir=settings.is_explicit("config_dir") and Path(config_dir) != own_dir,
        pass_config_name=settings.is_explicit("config_name")
        and (source is None or config_name != source.config_name),
        note=note,
    )
