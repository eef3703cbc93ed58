"""The on-disk contract: where each file of a sweep lives, and who writes it (and how).

Layout (see the README):
    <output_root>/runs/<run folder>/.sweep/
        job.json          the job's argv, cwd and env (resume rewrites a lost one)
        status.json       the job's state (see below for its writers)
        attempt-N.claim   one per attempt, created by the runner that starts it (O_EXCL)
        cancel.json       a cancel request: "attempts up to N must not run"
        output.log[.N]    the app's output (of attempt N)
        runner.log        the runner's own diagnostics
        owner.json        the sweep it belongs to (its folder, relative to the run dir)
    <output_root>/multiruns/<sweep folder>/
        runs_index.json   the sweep header and its jobs, plus a cache of their states
        runptrs/<N>       relative link (or text file) to job N's run dir
        multirun.yaml     written last: the sweep is complete once it exists
        submit/           cluster sweeps: job.sh, runner.py and its jobfiles.py, submission
                          files and logs;
                          submit/submission-<k>.json records the k-th submission (O_EXCL)

Who writes what (every write goes to a temp file in the same folder, then `os.replace`):
- `status.json`: the runner of the current attempt while it runs; otherwise only the
  process holding the sweep's launch lock, and only for jobs that no runner holds
  (creation and `resume` write `queued`, a refused submission writes `failed`).
- `cancel.json`: `cancel`, and a local sweep's own Ctrl-C/SIGTERM/--fail-fast (a request;
  the runner decides). `resume` removes it under the launch lock when it relaunches.
- `runs_index.json`: written at creation; afterwards a search's controller adds each new
  trial's job, and its cache fields (each job's last seen state) are refreshed, best
  effort, by whoever observed the sweep; both under `index_lock`. Facts never live in the
  cache, so a stale or lost refresh loses nothing; a read-only or full file system only
  leaves the cache stale.
- submission files: the launcher, each created exclusively, never rewritten.
- `owner.json`: creation, adopt, and resume when it rebuilds a run dir; once.

Here: the names and paths, and atomic writes of text and JSON. Each module beside this one
owns one kind of file: `jobfiles` (the job-file protocol, shared with the runner),
`run_files` (a run's status, cancel request and claims), `owners` (which sweep a run dir
belongs to), `runs_index`, `runptrs`, `submissions`, `sweep_dirs` (finding sweeps) and
`locks`; `records` parses what they read. Stdlib-only: `status` never imports Hydra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sweeper_cli.store.jobfiles import (
    LOG_FILE,
    SPEC_FILE,
    STATUS_FILE,
    SWEEP_SUBDIR,
    atomic_write_bytes,
)

INDEX_FILE = "runs_index.json"
MULTIRUN_FILE = "multirun.yaml"
RUNPTRS = "runptrs"
SUBMIT_DIR = "submit"
LAUNCHER_FILE = ".launcher.json"
OWNER_FILE = "owner.json"


def json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode("utf-8")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json_bytes(data))


def sweep_meta(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR


def status_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / STATUS_FILE


def spec_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / SPEC_FILE


def log_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / LOG_FILE


def owner_path(run_dir: Path) -> Path:
    return run_dir / SWEEP_SUBDIR / OWNER_FILE
