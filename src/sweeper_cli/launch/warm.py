"""Warm starts for the local backend: the client side of forkserver.py.

`begin` starts the job-start server under the app's own interpreter with the jobs' common
environment (`run` does so while it plans the sweep); `Starting.ready` waits for it to say
it is ready, or why it refuses (the backend then starts every job cold). `start` hands it
one job and returns a handle that looks like the Popen of a cold runner: the runner's
stdout+stderr pipe, its pid, its exit code, and signals. If the server dies, jobs it
started are watched by their pids.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from sweeper_cli.launch import forkserver
from sweeper_cli.store import jobfiles

SERVER_PATH = Path(forkserver.__file__).resolve()
READY_TIMEOUT = 120.0  # preloading a heavy app (torch) can take a while on a cold disk


class WarmJob:
    """A runner forked by the server, seen through Popen's stdout, pid, returncode,
    wait() and send_signal()."""

    def __init__(self, stdout: IO[bytes]) -> None:
        self.stdout = stdout
        self.pid: int | None = None
        self.returncode: int | None = None
        self.forked = threading.Event()
        self.done = threading.Event()

    def end(self, code: int | None) -> None:
        self.returncode = code if code is not None else jobfiles.EXIT_INTERNAL
        self.done.set()

    def wait(self, orphaned: threading.Event) -> int:
        """The runner's exit code: from the server, or (once the server is gone) when its
        pid is gone, with the code left unknown (70)."""
        while not self.done.wait(0.2):
            if orphaned.is_set() and (self.pid is None or not jobfiles.is_alive(self.pid, None)):
                self.end(None)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)


class Starting:
    """A job-start server on its way up: preloading runs while the sweep is planned."""

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        self.sock = sock
        self.proc = proc

    def ready(self) -> WarmStarts:
        """Wait for the server; RuntimeError (with its reason) when it refuses or fails."""
        self.sock.settimeout(READY_TIMEOUT)
        try:
            first = json.loads(self.sock.recv(65536) or b"{}")
        except (OSError, ValueError):
            first = {}
        self.sock.settimeout(None)
        if first.get("op") != "ready":
            why = first.get("why") or _last_line(self.proc)
            self.cancel()
            raise RuntimeError(why or "the job-start server did not start")
        return WarmStarts(self.sock, self.proc, list(first.get("preloaded", [])))

    def cancel(self) -> None:
        """Stop a server that will not be used."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def spawn(python: str, env: Mapping[str, str], cwd: str | None, app: Path | None) -> Starting:
    """Start the server under the app's interpreter (OSError when it cannot start)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    argv = [python, str(SERVER_PATH), str(theirs.fileno())]
    if app is not None:
        argv += ["--preload-app", str(app)]
    try:
        proc = subprocess.Popen(
            argv,
            pass_fds=[theirs.fileno()],
            env={**os.environ, **env},
            cwd=cwd or None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return Starting(ours, proc)


def begin(template: Mapping[str, Any], mode: str) -> Starting | None:
    """Start the server for jobs made from `template` when `mode` (off, hydra or app)
    and the jobs' command allow warm starts; None when they do not."""
    if mode == "off" or not warm_capable(template):
        return None
    env = template.get("env") or {}
    search = [Path(p) for p in str(env.get("PYTHONPATH", "")).split(os.pathsep) if p]
    search.append(Path(template.get("cwd") or "."))
    app = app_file(template, search) if mode == "app" else None
    return spawn(template["argv"][0], env, template.get("cwd"), app)


class WarmStarts:
    """One launch's job-start server, ready."""

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes], loaded: list[str]):
        self.sock = sock
        self.proc = proc
        self.loaded = loaded
        self.jobs: dict[int, WarmJob] = {}
        self.gone = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def start(self, num: int, run_dir: Path, env: Mapping[str, str]) -> WarmJob:
        read, write = os.pipe()
        job = WarmJob(os.fdopen(read, "rb"))
        self.jobs[num] = job
        message = {"op": "start", "num": num, "run_dir": str(run_dir), "env": dict(env)}
        try:
            socket.send_fds(self.sock, [json.dumps(message).encode()], [write])
        except OSError:
            self.gone.set()
            job.end(None)
        finally:
            os.close(write)
        return job

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.gone.set()  # its runners go on; they are watched by pid now
                return
            message = json.loads(data)
            job = self.jobs.get(message.get("num"))
            if job is None:
                continue
            if message["op"] == "forked":
                job.pid = message["pid"]
                job.forked.set()
            elif message["op"] == "ended":
                job.end(message["code"])

    def close(self) -> None:
        """Stop the server (its runners, if any still run, go on)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # the server sees the end; our reader wakes
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def _last_line(proc: subprocess.Popen[bytes]) -> str:
    with contextlib.suppress(subprocess.TimeoutExpired, OSError, ValueError):
        _, err = proc.communicate(timeout=5)
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else ""
    return ""


def app_file(template: Mapping[str, Any], search: list[Path]) -> Path | None:
    """The app's source file, for preloading its imports."""
    from sweeper_cli.project.discover import module_file

    argv = template.get("argv") or []
    if len(argv) > 2 and argv[1] == "-m":
        return module_file(argv[2], search)
    if len(argv) > 1 and str(argv[1]).endswith(".py"):
        return Path(argv[1])
    return None


def warm_capable(template: Mapping[str, Any]) -> bool:
    """Whether the jobs' argv is `<python> -m module` or `<python> script.py`."""
    argv = template.get("argv") or []
    return len(argv) > 1 and (argv[1] == "-m" or str(argv[1]).endswith(".py"))


class EarlyServer:
    """A server started as soon as the app is known (`sweep.prepare`'s on_app), so its
    preloading overlaps planning, until the local backend takes it at launch (whoever
    started it cancels it otherwise)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.starting: Starting | None = None

    def begin(self, template: Mapping[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the backend tries again and says why
            self.starting = begin(template, self.mode)

    def take(self) -> Starting | None:
        starting, self.starting = self.starting, None
        return starting

    def cancel(self) -> None:
        starting = self.take()
        if starting is not None:
            starting.cancel()
