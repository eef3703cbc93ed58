"""The job-start server of local sweeps ("warm starts"): forks job runners from a process
that has imported Hydra (and, when asked, the app's own imports) already.

    <the app's python> forkserver.py FD [--preload-app MODULE_OR_SCRIPT]

Run by path under the interpreter that runs the app, with the jobs' common environment,
next to runner.py (stdlib-only, like it). FD is one end of a SOCK_SEQPACKET socket pair
with the local backend, which sends one JSON message per job to start, with the write
end of a pipe for the runner's stdout and stderr:

    -> {"op": "start", "num": 3, "run_dir": "...", "env": {"CUDA_VISIBLE_DEVICES": "1"}} + [fd]
    <- {"op": "ready", "preloaded": [...]}  or  {"op": "refused", "why": "..."} (once)
    <- {"op": "forked", "num": 3, "pid": 1234}
    <- {"op": "ended", "num": 3, "code": 0}

Each job is forked twice, as a cold start is spawned twice: the server forks the job's
runner (its own session, as the local backend starts a cold runner), and the runner forks
the app instead of starting a new interpreter (the `Runner` is handed `start_app`). The
app's process then becomes what `python -m module` or `python script.py` would be: its
argv, environment, working directory, sys.path[0], fresh stdio on its log, default signal
handlers, fresh random seeds (random, and NumPy's and torch's global generators when
loaded), its own process group, death with its runner; it exits through atexit like any
interpreter.

Python puts this file's folder first on sys.path, and that folder holds thesis-sweep's
own modules (gpus.py, warm.py, ...): the server takes it off before it preloads anything,
so none of them ever stands in for an app's module of the same name (the app's own folder
takes its place in the app's process), and it loads the runner by its path.

Safety: the server never initialises CUDA or another GPU runtime. After preloading it
checks that no GPU library is loaded (torch.cuda, libcuda in its memory map) and refuses
otherwise, so the backend falls back to cold starts. A job's crash is its own process's;
the server only forks and reports. When the backend's end of the socket closes (it was
killed), the server exits; runners already started go on, as cold ones do.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
from pathlib import Path
from typing import Any

HYDRA_MODULES = (
    "omegaconf",
    "hydra",
    "hydra.main",
    "hydra._internal.utils",
    "hydra._internal.hydra",
    "hydra._internal.config_loader_impl",
    "hydra._internal.core_plugins.basic_launcher",
    "hydra._internal.core_plugins.basic_sweeper",
    "hydra.core.utils",
    "hydra.core.hydra_config",
)
GPU_LIBRARIES = ("libcuda.so", "libnvidia-ml", "libcudart", "libhip", "libamdhip", "libze_loader")


def gpu_runtime_loaded() -> str | None:
    """The GPU runtime this process has loaded or initialised, if any."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_initialized():
                return "torch initialised CUDA"
        except Exception:  # noqa: S110 - an odd torch: the memory map says the rest
            pass
    try:
        with open("/proc/self/maps") as handle:
            maps = handle.read()
    except OSError:
        return None
    for library in GPU_LIBRARIES:
        if library in maps:
            return f"{library} is loaded"
    return None


def top_level_imports(source: Path) -> list[str]:
    """The absolute imports at the top level of an app's file (its third-party modules)."""
    tree = ast.parse(source.read_text(encoding="utf-8", errors="replace"))
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return list(dict.fromkeys(found))


def app_source(app: str) -> Path | None:
    """The file of a module name or script path, found on sys.path without importing it."""
    if app.endswith(".py"):
        return Path(app)
    import importlib.util

    try:
        spec = importlib.util.find_spec(app)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin else None


def preload(app: str | None) -> list[str]:
    """Import Hydra, and the app's top-level imports when asked (never the app itself:
    its module-level code runs once, in its job)."""
    names = list(HYDRA_MODULES)
    source = app_source(app) if app else None
    if app and source is not None:
        names += top_level_imports(source)
        # Found as the app finds them: from the script's folder, or the working directory.
        sys.path.insert(0, str(source.parent) if app.endswith(".py") else os.getcwd())
    loaded = []
    try:
        for name in names:
            try:
                importlib.import_module(name)
                loaded.append(name)
            except Exception:  # noqa: S112 - an import the app itself fails on: not ours
                continue
    finally:
        if source is not None:
            del sys.path[0]
    return loaded


# --- the app, forked from its runner ----------------------------------------------------

STARTUP_ENV: dict[str, str] = {}
OURS = ("runner", "forkserver", "__mp_main__")
HERE = os.path.dirname(os.path.realpath(__file__))
APP_FOLDER_FIRST = False  # sys.path[0] was this folder: the app's own takes its place


def warm_target(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """("module"|"script", target, arguments) when this interpreter can start the app as
    its argv would (`<this python> -m module ...` or `<this python> script.py ...`)."""
    if len(argv) < 2:
        return None
    try:
        if not os.path.samefile(argv[0], sys.executable):
            return None
    except OSError:
        return None
    if argv[1] == "-m" and len(argv) > 2:
        return "module", argv[2], argv[3:]
    if argv[1].endswith(".py") and not argv[1].startswith("-"):
        return "script", argv[1], argv[2:]
    return None


def start_app(spec: dict[str, Any], log: Path) -> Any:
    """Fork the app of a job whose argv this server can start, else None (a cold start).
    The returned handle has Popen's pid, wait(timeout) and poll()."""
    target = warm_target(spec["argv"])
    env = {**os.environ, **spec["env"]}
    startup = {k: v for k, v in STARTUP_ENV.items() if k.startswith("PYTHON")}
    if target is None or {k: v for k, v in env.items() if k.startswith("PYTHON")} != startup:
        return None  # another interpreter, or another PYTHONPATH: only a cold start is alike
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    runner_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            become_app(target, spec.get("cwd"), env, log_fd, runner_pid)
        finally:
            os._exit(1)
    os.close(log_fd)
    return ForkedApp(pid)


class ForkedApp:
    """A forked app seen through Popen's pid, wait(timeout) and poll()."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        self._done.set()

    def wait(self, timeout: float | None = None) -> int:
        import subprocess

        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode


def become_app(
    target: tuple[str, str, list[str]],
    cwd: str | None,
    env: dict[str, str],
    log_fd: int,
    runner_pid: int,
) -> None:
    """Turn this forked process into what `python -m module` / `python script.py` is."""
    import io
    import random

    os.setsid()  # the whole job is one process group, as for a cold start
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # dies with its runner
        if os.getppid() != runner_pid:
            os._exit(1)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    encoding = sys.stdout.encoding
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
    )
    for name in ("stdin", "stdout", "stderr"):  # what a new interpreter has in both
        setattr(sys, f"__{name}__", getattr(sys, name))
    reseed(random)
    for name in OURS:
        sys.modules.pop(name, None)
    kind, name, args = target
    import runpy

    folder = os.getcwd() if kind == "module" else os.path.dirname(os.path.abspath(name))
    if APP_FOLDER_FIRST:
        sys.path.insert(0, folder)
    if kind == "module":
        sys.argv = ["-m", *args]
        code = run_as_main(lambda: runpy._run_module_as_main(name, alter_argv=True))  # type: ignore[attr-defined]
    else:
        sys.argv = [name, *args]
        code = run_as_main(lambda: runpy.run_path(name, run_name="__main__"))
    exit_like_python(code)


def reseed(random: Any) -> None:
    """Fresh random state, as a new interpreter has: nothing is shared between jobs."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


def run_as_main(run: Any) -> int:
    """Run the app as the interpreter runs __main__: the exit code it would give."""
    try:
        run()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as Python 3.8+: die by SIGINT
        os.kill(os.getpid(), signal.SIGINT)
        return 130
    except BaseException:
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def exit_like_python(code: int) -> None:
    """What an interpreter does at its end: wait for threads, atexit, flush, exit."""
    import atexit
    import threading

    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed stream: nothing left to say
                stream.flush()
        os._exit(code & 0xFF)


class Server:
    """Forks a runner per start request and reports each one's end."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: dict[int, int] = {}  # pid -> job number
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def send(self, message: dict[str, Any]) -> None:
        self.sock.send(json.dumps(message).encode())

    def serve(self) -> None:
        watched: list[Any] = [self.sock, self.wake_r]
        while True:
            ready, _, _ = select.select(watched, [], [])
            if self.wake_r in ready:
                os.read(self.wake_r, 512)
            self.reap()
            if self.sock in ready:
                message, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
                if not message:
                    return  # the backend is gone: started runners go on without us
                self.start(json.loads(message), fds)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            num = self.children.pop(pid, None)
            if num is not None:
                code = os.waitstatus_to_exitcode(status)
                self.send({"op": "ended", "num": num, "code": code})

    def start(self, request: dict[str, Any], fds: list[int]) -> None:
        pid = os.fork()
        if pid == 0:  # the job's runner
            self.become_runner(request, fds)
        for fd in fds:
            os.close(fd)
        self.children[pid] = request["num"]
        self.send({"op": "forked", "num": request["num"], "pid": pid})

    def become_runner(self, request: dict[str, Any], fds: list[int]) -> None:
        code = 70
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            out = fds[0]
            os.dup2(out, 1)
            os.dup2(out, 2)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.closerange(3, 1 << 16)
            os.environ.update(request.get("env", {}))
            runner = load_runner()
            code = runner.Runner(Path(request["run_dir"]), start_app=start_app).run()
        except BaseException:  # the runner's own failure: as a cold runner's, said and 70
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)


def leave_sys_path() -> bool:
    """Take this file's folder off the front of sys.path; whether it was there."""
    if sys.path and os.path.realpath(sys.path[0] or os.curdir) == HERE:
        del sys.path[0]
        return True
    return False


def load_runner() -> Any:
    """runner.py, next to this file, loaded by its path (this folder is off sys.path)."""
    import importlib.util

    path = os.path.join(HERE, "runner.py")
    spec = importlib.util.spec_from_file_location("runner", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["runner"] = module  # as `import runner` would: OURS drops it for the app
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    global APP_FOLDER_FIRST, STARTUP_ENV
    APP_FOLDER_FIRST = leave_sys_path()
    fd = int(argv[0])
    app = argv[2] if len(argv) > 2 and argv[1] == "--preload-app" else None
    sock = socket.socket(fileno=fd)
    STARTUP_ENV = dict(os.environ)
    try:
        loaded = preload(app)
    except Exception as exc:
        sock.send(json.dumps({"op": "refused", "why": f"preloading failed: {exc}"}).encode())
        return 1
    gpu = gpu_runtime_loaded()
    if gpu:
        why = f"{gpu} after preloading: a forked job could not use the GPUs"
        sock.send(json.dumps({"op": "refused", "why": why}).encode())
        return 1
    server = Server(sock)
    server.send({"op": "ready", "preloaded": loaded, "python": sys.executable})
    server.serve()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    os._exit(code)  # no teardown of the preloaded modules: the launch is waiting for us
