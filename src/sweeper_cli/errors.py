"""Error types with the exit code each one maps to (see the README's exit codes), and the
one-line text of an operating-system error."""

from __future__ import annotations

EXIT_OK = 0
EXIT_JOBS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BACKEND = 3
EXIT_STILL_RUNNING = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process ended by SIGTERM


class SweepError(Exception):
    """Base error: a one-line message for the user and an exit code."""

    exit_code = EXIT_BAD_INPUT


class BadInput(SweepError):
    """Bad overrides, settings or config: nothing was launched or written."""

    exit_code = EXIT_BAD_INPUT


class BackendFailure(SweepError):
    """The backend or scheduler failed."""

    exit_code = EXIT_BACKEND


class Terminated(KeyboardInterrupt):
    """SIGTERM (from `timeout`, systemd, a batch system) arrived: stop like Ctrl-C."""


def os_error_text(exc: OSError) -> str:
    """`<file>: <reason>` for an operating-system error (a full disk, a read-only mount)."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason
