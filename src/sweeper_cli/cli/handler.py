"""The one place that turns errors into a line on stderr and an exit code."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer

from sweeper_cli.errors import (
    EXIT_BACKEND,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    SweepError,
    Terminated,
    os_error_text,
)


def debugging() -> bool:
    return os.environ.get("THESIS_SWEEP_DEBUG") == "1"


def fail(message: str, code: int) -> typer.Exit:
    from sweeper_cli.cli.escape import printable

    print(f"thesis-sweep: error: {printable(message)}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def command(func: Callable[..., int]) -> Callable[..., None]:
    """Wrap a command returning an exit code: errors become one line, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = func(*args, **kwargs)
        except SweepError as exc:
            if debugging():
                traceback.print_exc()
            raise fail(str(exc), exc.exit_code) from None
        except Terminated:
            raise fail("terminated (SIGTERM)", EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except OSError as exc:  # the machine said no: a full disk, a read-only mount, ...
            if debugging():
                traceback.print_exc()
            raise fail(os_error_text(exc), EXIT_BACKEND) from None
        except Exception as exc:  # last line of defence: never a bare traceback
            if debugging():
                traceback.print_exc()
            raise fail(
                f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                "(THESIS_SWEEP_DEBUG=1 shows the traceback)",
                EXIT_BACKEND,
            ) from None
        raise typer.Exit(code)

    return wrapper
