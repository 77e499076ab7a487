"""Warm probes: a template process that has imported torch once, forked for every probe (a "zygote").

Importing torch and `torch._dynamo` (which the user's optimizer constructor triggers) is ~70% of a cold probe's
CPU time (issue 15). The template (``python -m traintriage.probe.warm``, started by the parent on first use)
imports them and the harness's own modules, then waits. For each probe it forks a child (process A) that does
what the cold command line would have done: a new session, stdout/stderr into the probe's files, the probe's
cwd, environment, argv and sys.path, then sandbox.py's namespaces, reaper and confinement (`sandboxed`), and in
the confined process C the harness's `main` (every hook installed before the user's code, `runpy` for the
script). The user's script therefore still runs in a fresh process the template never ran code in; crashes,
timeouts, cancels, the memory cap and the sandbox behave as in a cold probe (the test suite probes warm;
tests/test_cold.py runs the hostile and crash tests again cold).

Differences from a cold start, and what is done about them:
- A forked child is single-threaded, so unshare(CLONE_NEWUSER) works even when the template's torch started an
  OpenMP thread; the template itself never enters a namespace.
- Intra-op threads: the template is started without OMP_NUM_THREADS / MKL_NUM_THREADS; a child whose
  environment sets them calls torch.set_num_threads with that value (what a fresh process reads at import).
- Seeds: Python's `random` reseeds itself after fork; torch's default generator and numpy's global one are
  reseeded from the OS here, as a fresh process seeds them. The string hash seed is the template's.
- The environment is the probe's, but modules imported in the template read theirs at the template's start:
  the template is keyed by the variables those imports may read (IMPORT_ENV_PREFIXES), and a change in one of
  them starts a new template.

The parent side (`launch`) hands the runner a Popen-like handle (`WarmProc`); the template reports each
child's pid and exit status over its stdout. `enable()` turns warm probes on for this process (`traintriage eval`
does; the MCP server calls `keep()`); `TRAINTRIAGE_WARM=0` turns them off everywhere. A probe never waits for
the template: while it is still importing (the first probe after start), or if it died, the probe starts
with the cold command line, so a timeout or cancel always runs against a started child.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Keys of the child's environment that change on every probe (runner.py sets them to the probe's folder):
# they do not make a new template.
PER_PROBE_KEYS = ("WANDB_DIR", "MLFLOW_TRACKING_URI", "MPLCONFIGDIR", "TMPDIR", "TEMP", "TMP")
# Environment variables the template's imports (the interpreter, the dynamic loader, torch and its runtimes, numpy,
# Hugging Face libraries) may read at start, by prefix: a change in any of them starts a new template. Others
# (a test runner's PYTEST_CURRENT_TEST, a shell's PWD) reach the child, which reads them itself.
IMPORT_ENV_PREFIXES = ("PYTHON", "LD_", "PATH", "HOME", "LANG", "LC_", "TORCH", "PYTORCH", "CUDA", "NVIDIA",
                       "CUBLAS", "CUDNN", "NCCL", "OMP_", "KMP_", "GOMP_", "MKL", "OPENBLAS", "NUMPY", "HIP",
                       "ROCM", "TRITON", "XLA", "HF_", "TRANSFORMERS", "TRAINTRIAGE")
# Read by the OpenMP / MKL runtimes when torch loads: the template starts without them, each child applies its own.
THREAD_KEYS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# How often the template looks for ended children between requests (seconds): the exit reaches the runner,
# which polls every runner.POLL_S (0.05 s), within this much more.
REAP_POLL_S = 0.02
ENV_SWITCH = "TRAINTRIAGE_WARM"
# Templates kept at once, one per environment: the probe's and a plain run's (tests/test_evals.py runs both)
# differ in PYTHONPATH. Each holds torch's import (~0.3-0.5 GB resident, shared copy-on-write with its forks).
MAX_TEMPLATES = 2


# ------------------------------------------------------------------------------------- template (child side)
def _send(fd: int, msg: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(msg) + "\n").encode())


def _child(req: dict[str, Any], proto: tuple[int, int]) -> None:
    """Process A, forked from the template: become the cold command line's process, then run the sandbox."""
    code = 1
    try:
        os.setsid()  # the runner kills the probe's process group, as with start_new_session=True
        for fd in proto:
            os.close(fd)
        out = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        for target, path, flags in ((0, os.devnull, os.O_RDONLY), (1, req["stdout"], out), (2, req["stderr"], out)):
            fd = os.open(path, flags)
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        _fresh_process_state(req)
        if req.get("argv"):  # a plain run: `python SCRIPT ARGS...`, no harness, no sandbox
            code = _plain(req["argv"])
            return
        cfg_path = req["cfg"]
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)

        def harness() -> None:
            try:
                from traintriage.probe import harness as h

                h.main([cfg_path])  # ends with os._exit(0)
            except BaseException:  # noqa: BLE001 - as `python -m ...harness` would: traceback, exit 1
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(1)

        if req.get("sandbox", True):
            from traintriage.probe.sandbox import sandboxed

            code = sandboxed(cfg, harness)
        else:
            harness()
    except BaseException:  # noqa: BLE001 - the fork must never return into the template's loop
        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def _plain(argv: list[str]) -> int:
    """Run a script as `python SCRIPT ARGS` would, in this fork: its exit code. Atexit handlers run; non-daemon
    threads are not waited for."""
    import atexit
    import runpy

    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))  # `python script.py` puts the script's folder first
    code: int = 0
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - as the interpreter would: traceback, exit 1
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    return code


def _fresh_process_state(req: dict[str, Any]) -> None:
    """What `python -m traintriage.probe.harness` would have started with, where the template differs."""
    import tempfile

    import torch

    sys.argv = [req["argv0"]]
    sys.path[0] = req["cwd"]  # `python -m` puts the working directory first
    tempfile.tempdir = None  # re-read TMPDIR
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    n = next((os.environ[k] for k in THREAD_KEYS if os.environ.get(k, "").isdigit()), None)
    if n is not None and int(n) > 0:
        torch.set_num_threads(int(n))
    torch.seed()  # torch's default generator: a fresh process starts it from a non-deterministic seed (2.x)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()  # a fresh process seeds numpy's global generator from the OS


def serve() -> None:
    """The template's loop: import once, then fork a probe per request line; report pids and exit statuses."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # a stray print at import cannot corrupt the protocol
    os.close(null)
    import torch
    import torch._dynamo  # noqa: F401 - the optimizer constructor imports it: half a second per probe

    import traintriage.probe.fs_redirect
    import traintriage.probe.harness
    import traintriage.probe.overrides
    import traintriage.probe.sandbox  # noqa: F401

    _send(proto_out, {"ready": True, "pid": os.getpid(), "torch": torch.__version__,
                      "threads": len(os.listdir("/proc/self/task"))})
    children: dict[int, int] = {}  # pid -> request id
    buf = b""
    open_ = True
    while open_ or children:
        r = select.select([proto_in], [], [], REAP_POLL_S)[0] if open_ else time.sleep(REAP_POLL_S)
        if r:
            chunk = os.read(proto_in, 65536)
            if not chunk:
                open_ = False  # the parent closed us: finish reaping, then exit
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                req = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(req, (proto_in, proto_out))
                children[pid] = req["id"]
                _send(proto_out, {"id": req["id"], "pid": pid})
        while children:
            try:
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in children:  # cpu: the child's and what it reaped (the sandbox's reaper and the script)
                _send(proto_out, {"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status),
                                  "cpu": ru.ru_utime + ru.ru_stime})


# ------------------------------------------------------------------------------------- parent side
class WarmProc:
    """The runner's handle on a forked probe: the part of subprocess.Popen it uses (pid, poll, wait, kill)."""

    def __init__(self, pid: int, template: Template, rid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._template = template
        self._rid = rid

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._template.exit_code(self._rid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"warm probe {self.pid}", timeout or 0)
            time.sleep(REAP_POLL_S)
        return self.returncode  # type: ignore[return-value]

    @property
    def cpu_s(self) -> float | None:
        """CPU seconds of the ended child and everything it reaped (None while it runs)."""
        return self._template.cpu.get(self._rid)

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Template:
    """One template process and the reader thread that collects its answers."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.key = _key(env)
        pkg_root = str(Path(__file__).resolve().parents[2])
        start_env = {k: v for k, v in env.items() if k not in THREAD_KEYS}
        start_env["PYTHONPATH"] = env.get("PYTHONPATH") or pkg_root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "traintriage.probe.warm"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, cwd="/", env=start_env, start_new_session=True)
        self.info: dict[str, Any] = {}
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self._pids: dict[int, int] = {}
        self._exits: dict[int, int | None] = {}
        self.cpu: dict[int, float | None] = {}  # CPU seconds of each ended child (with what it reaped)
        self._cv = threading.Condition(self._lock)
        self.dead = False
        threading.Thread(target=self._read, name="traintriage-warm-reader", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._cv:
                if msg.get("ready"):
                    self.info = msg
                    self.ready.set()
                elif "pid" in msg:
                    self._pids[msg["id"]] = msg["pid"]
                elif "exit" in msg:
                    self._exits[msg["id"]] = msg["exit"]
                    self.cpu[msg["id"]] = msg.get("cpu")
                self._cv.notify_all()
        with self._cv:  # the template is gone: nothing it forked will be reported any more
            self.dead = True
            for rid in self._pids:
                self._exits.setdefault(rid, None)
            self._cv.notify_all()
        self.ready.set()
        self.proc.stdout.close()
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()

    def exit_code(self, rid: int) -> int | None:
        with self._lock:
            if rid in self._exits:
                code = self._exits[rid]
                if code is None:  # the template died first: say the child is gone once it is
                    pid = self._pids.get(rid)
                    if pid is not None and _alive(pid):
                        return None
                    return -signal.SIGKILL
                return code
        return None

    def spawn(self, req: dict[str, Any]) -> WarmProc | None:
        if not self.ready.is_set() or self.dead:  # still importing: this probe starts cold, never waits on it
            return None
        with self._cv:
            rid = self._next
            self._next += 1
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write((json.dumps({**req, "id": rid}) + "\n").encode())
                self.proc.stdin.flush()
            except (OSError, ValueError):
                return None
            while rid not in self._pids and not self.dead:
                self._cv.wait(1.0)
            if rid not in self._pids:
                return None
            return WarmProc(self._pids[rid], self, rid)

    def close(self) -> None:
        """Close its input: the template reaps what it still runs, then exits."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _key(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in env.items()
                        if k.startswith(IMPORT_ENV_PREFIXES) and k not in PER_PROBE_KEYS and k not in THREAD_KEYS))


_lock = threading.Lock()
_enabled = 0  # enable() nests
_templates: dict[tuple[tuple[str, str], ...], Template] = {}  # by environment key, oldest first
_current: list[Template] = []  # the one the last warm_up returned
_kept = False


def enable() -> None:
    """Warm probes on for this process (until the matching disable()). The template starts on first use."""
    global _enabled
    with _lock:
        _enabled += 1


def disable() -> None:
    """Undo one enable(); the last one closes the template."""
    global _enabled
    with _lock:
        _enabled = max(0, _enabled - 1)
        if _enabled == 0 and not _kept:
            for t in _templates.values():
                t.close()
            _templates.clear()
            _current.clear()


def keep() -> None:
    """Warm probes on for the rest of this process's life (the MCP server); idempotent."""
    global _kept
    _kept = True


def enabled() -> bool:
    return (_kept or _enabled > 0) and os.environ.get(ENV_SWITCH, "1") != "0" and sys.platform.startswith("linux")


def current() -> Template | None:
    """The template the last warm_up returned, if any."""
    return _current[0] if _current else None


def warm_up(env: Mapping[str, str] | None = None) -> Template | None:
    """The template for this environment, started if needed (returns at once; it imports in the background).
    `env`: the probe child's environment (runner.py builds it), default this process's."""
    if not enabled():
        return None
    env = dict(os.environ if env is None else env)
    key = _key(env)
    with _lock:
        t = _templates.get(key)
        if t is not None and t.dead:
            del _templates[key]
            t = None
        if t is None:
            while len(_templates) >= MAX_TEMPLATES:  # close the oldest
                _templates.pop(next(iter(_templates))).close()
            t = _templates[key] = Template(env)
        _current[:] = [t]
        return t


def launch(*, cfg_path: str, cwd: str, env: Mapping[str, str], stdout: str, stderr: str, argv0: str,
           sandbox: bool = True) -> WarmProc | None:
    """Fork the probe from the warm template, or None (warm probes are off, or the template failed): the runner
    then starts the cold command line."""
    t = warm_up(env)
    if t is None:
        return None
    return t.spawn({"cfg": cfg_path, "cwd": cwd, "env": dict(env), "stdout": stdout, "stderr": stderr,
                    "argv0": argv0, "sandbox": sandbox})


def run_plain(argv: list[str], *, cwd: str, env: Mapping[str, str], stdout: str, stderr: str,
              timeout: float) -> tuple[int, float | None] | None:
    """`python ARGV...` forked from a ready template (torch imported once): (exit code, CPU seconds), -9 after a
    timeout; None when warm probes are off or no template is ready (the caller runs the command itself)."""
    t = warm_up(env)
    proc = None if t is None else t.spawn({"argv": list(argv), "cwd": cwd, "env": dict(env), "stdout": stdout,
                                            "stderr": stderr, "argv0": argv[0], "sandbox": False})
    if proc is None:
        return None
    try:
        return proc.wait(timeout), proc.cpu_s
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(10)
        return -9, proc.cpu_s


if __name__ == "__main__":
    serve()
