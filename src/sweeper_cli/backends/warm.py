"""Warm starts for the local backend: the client side of forkserver.py.

`WarmStarts.open` starts the job-start server under the app's own interpreter with the
jobs' common environment and waits for it to say it is ready (or why it refuses: the
backend then starts every job cold). `start` hands it one job and returns a handle that
looks like the Popen of a cold runner: the runner's stdout+stderr pipe, its pid, its exit
code, and signals. If the server dies, jobs it started are watched by their pids.
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

from sweeper_cli import forkserver, runner

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
        self.returncode = code if code is not None else runner.EXIT_INTERNAL
        self.done.set()

    def wait(self, orphaned: threading.Event) -> int:
        """The runner's exit code: from the server, or (once the server is gone) when its
        pid is gone, with the code left unknown (70)."""
        while not self.done.wait(0.2):
            if orphaned.is_set() and (self.pid is None or not runner.is_alive(self.pid, None)):
                self.end(None)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)


class WarmStarts:
    """One launch's job-start server."""

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes], loaded: list[str]):
        self.sock = sock
        self.proc = proc
        self.loaded = loaded
        self.jobs: dict[int, WarmJob] = {}
        self.gone = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def open(
        cls, python: str, env: Mapping[str, str], cwd: str | None, app_file: Path | None
    ) -> WarmStarts:
        """Start the server; OSError or RuntimeError (with the reason) when it cannot."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [python, str(SERVER_PATH), str(theirs.fileno())]
        if app_file is not None:
            argv += ["--preload-app", str(app_file)]
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
        finally:
            theirs.close()
        ours.settimeout(READY_TIMEOUT)
        try:
            first = json.loads(ours.recv(65536) or b"{}")
        except (OSError, ValueError):
            first = {}
        ours.settimeout(None)
        if first.get("op") != "ready":
            why = first.get("why") or _last_line(proc)
            proc.kill()
            ours.close()
            raise RuntimeError(why or "the job-start server did not start")
        return cls(ours, proc, list(first.get("preloaded", [])))

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
    from sweeper_cli.discover import module_file

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
