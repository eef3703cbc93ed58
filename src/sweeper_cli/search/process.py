"""The search controller as a detached process.

`spawn` starts it (for `run` and `resume`) in a session of its own, so it outlives the
terminal, and returns once it holds the sweep's launch lock and has said so in
search/state.json. `main` is its entry point (`python -m sweeper_cli.search.process
SWEEP_DIR OPTIONS`): it takes the launch lock and runs the `Controller`; a controller that
cannot go on says why in its log and, when it can, in search/state.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweeper_cli.errors import EXIT_BACKEND, SweepError, Terminated, os_error_text
from sweeper_cli.search.controller import Controller
from sweeper_cli.search.log import say
from sweeper_cli.store import locks, search_files
from sweeper_cli.store.jobfiles import hostname
from sweeper_cli.store.search_files import STOPPED

START_TIMEOUT = 120.0  # importing Optuna and composing the config on a slow disk
ENTRY = "sweeper_cli.search.process"  # this module, run with -m


def spawn(sweep_dir: Path, options: dict[str, Any]) -> int:
    """Start the controller; return its pid once it runs the search (SweepError with its
    last words when it cannot start)."""
    logs = search_files.folder(sweep_dir)
    logs.mkdir(exist_ok=True)
    with open(logs / search_files.CONTROLLER_LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", ENTRY, str(sweep_dir), json.dumps(options)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=os.name == "posix",
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
            | getattr(subprocess, "DETACHED_PROCESS", 0),
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SweepError(f"the search controller did not start: {_last_words(sweep_dir)}")
        with contextlib.suppress(OSError, ValueError):
            state = search_files.read_state(sweep_dir)
            if state and state.controller and state.controller.pid == proc.pid:
                return proc.pid
        time.sleep(0.05)
    proc.kill()
    raise SweepError(f"the search controller did not start within {START_TIMEOUT:.0f} s")


def _last_words(sweep_dir: Path) -> str:
    path = search_files.folder(sweep_dir) / search_files.CONTROLLER_LOG
    with contextlib.suppress(OSError):
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
        if lines:
            return lines[-1].removeprefix("thesis-sweep controller: error: ")
    return "it exited without a word"


def _terminate(_signum: int, _frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str]) -> int:
    sweep_dir = Path(argv[0])
    options = json.loads(argv[1]) if len(argv) > 1 else {}
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # detached: a closed terminal is no reason
    say(f"controller {os.getpid()} on {hostname()} for {sweep_dir}")
    try:
        with locks.launch_lock(sweep_dir):
            controller = Controller(sweep_dir, options)
            try:
                return controller.run()
            finally:
                if controller.backend is not None and hasattr(controller.backend, "close"):
                    controller.backend.close()
    except SweepError as exc:
        return _stopped_by(sweep_dir, str(exc), exc.exit_code)
    except OSError as exc:  # a full disk, a read-only mount
        return _stopped_by(sweep_dir, os_error_text(exc), EXIT_BACKEND)
    except Exception as exc:  # never silent: the log has the traceback, status the reason
        import traceback

        traceback.print_exc()
        why = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
        return _stopped_by(sweep_dir, why, EXIT_BACKEND)


def _stopped_by(sweep_dir: Path, why: str, code: int) -> int:
    """Say why the controller ends early, in its log and (if it can) in state.json."""
    print(f"thesis-sweep controller: error: {why}", flush=True)
    with contextlib.suppress(OSError, ValueError):
        state = search_files.read_state(sweep_dir)
        if state is not None and state.controller and state.controller.pid == os.getpid():
            doc = {"state": STOPPED, "reason": why, "controller": None}
            search_files.write_state(sweep_dir, {**_as_doc(state), **doc})
    return code


def _as_doc(state: search_files.SearchState) -> dict[str, Any]:
    return {
        "n_trials": state.n_trials,
        "trials": [t.as_json() for _, t in sorted(state.trials.items())],
        "best": list(state.best),
        "options": state.options,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
