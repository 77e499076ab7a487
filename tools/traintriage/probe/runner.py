"""Parent side of the probe: start the child, watch it, kill it on timeout or cancel, read its evidence.

The child (`python -m traintriage.probe.harness CONFIG`) runs in its own session (process group) under
sandbox.py, which confines it with what the kernel offers (a read-only user+mount namespace, Landlock, PID and
network namespaces, a memory cap) and kills every descendant when it ends. Its stdout/stderr go to files (no
pipe can fill and block it); its evidence goes to a JSON-lines file the parent polls for progress. Writes the
script makes through open()/makedirs/torch.save are redirected into a folder that is deleted afterwards
(fs_redirect.py); any other write outside the probe's folder fails in the script. The user's tree is left as
it was.

With warm probes on (warm.py: the MCP server, `traintriage eval`), the child is forked from a template process
that has imported torch once instead of started as a new interpreter; everything above holds the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from traintriage.probe import launch, warm
from traintriage.probe.warm import THREAD_KEYS
from traintriage.report import Report

# How often the parent polls the child for progress, exit, timeout and cancel (seconds).
POLL_S = 0.05
# Characters of the script's stdout / stderr kept in the report.
TAIL_CHARS = 3000

# Default memory cap of the child: this fraction of physical RAM (RLIMIT_DATA per process, sandbox.py). A probe
# runs a few dozen steps of one batch; half the machine leaves the rest of it (the caller, an editor) alive.
MEMORY_FRACTION = 0.5

# A child started while another probe of this process runs gets one intra-op thread (unless the user's
# environment sets these): torch's default, one thread per core, makes two children on 2 cores fight over them
# (benchmarks/bench_threads.py, README "Speed and budgets": two probes at once took 5.4x the wall and 4.1x the
# CPU with 2 threads each; torch docs "CPU threading and TorchScript inference" on oversubscription). The MCP
# server runs up to two probes at once; `traintriage eval --jobs N` sets them itself.
THREAD_ENV = THREAD_KEYS
_in_flight = 0
# How this process's probes started: forked from the warm template, or the cold command line (tests read it).
STARTS = {"warm": 0, "cold": 0}
_flight_lock = threading.Lock()

ProgressFn = Callable[[int, int, str], None]


def default_max_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * MEMORY_FRACTION)
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# An allocation refused by the memory cap: Python's MemoryError, torch's CPU allocator, or errno ENOMEM.
_OOM_MARKERS = ("can't allocate memory", "Cannot allocate memory", "out of memory")
# A write the sandbox refused (EROFS from the read-only mounts, EACCES from Landlock, EPERM from fs_redirect).
_REFUSED_MARKERS = ("Read-only file system", "Permission denied", "Operation not permitted")


def _honest_end(records: list[dict[str, Any]], exit_info: dict[str, Any], max_memory: int | None) -> None:
    """Make the end record say how the child really ended (in place).

    The harness writes an `end` record on every normal finish; a child that exits or is killed mid-run
    (os._exit, a signal) leaves none, and that is a crash naming the cause and the last step seen. A crash the
    memory cap caused says so."""
    end = next((r for r in reversed(records) if r.get("kind") == "end"), None)
    if end is None:
        n = sum(1 for r in records if r.get("kind") == "step" and r.get("opt") == 0)
        sig = exit_info.get("signal")
        if sig:
            try:
                how = f"was killed by signal {signal.Signals(sig).name}"
            except ValueError:
                how = f"was killed by signal {sig}"
        elif exit_info:
            how = f"exited with code {exit_info.get('code')} (os._exit or a C-level exit)"
        else:
            how = "ended"
        records.append({"kind": "end", "status": "crashed", "synthetic": True, "crash": {
            "type": "ChildDied", "where": None, "line": None, "traceback": "",
            "message": f"the script's process {how} without finishing; last optimizer step seen: {n}"}})
        return
    crash = end.get("crash") or {}
    msg = f"{crash.get('type')}: {crash.get('message')}"
    if any(m in msg for m in _REFUSED_MARKERS) and "'" not in str(crash.get("message")) and crash.get("line"):
        crash["message"] = f"{crash.get('message')} (refused by the probe's sandbox) in: {crash['line']}"  # no path in it
    if max_memory and "CUDA" not in msg and (crash.get("type") == "MemoryError" or any(m in msg for m in _OOM_MARKERS)):
        crash["message"] = (f"out of memory at {_gib(max_memory)} GiB (the probe's memory cap, max_memory): "
                            + str(crash.get("message")))


def sandbox_note(info: dict[str, Any]) -> str:
    """One line for the report: which confinement layer was active and what it included."""
    layer = info.get("layer", "python")
    parts = []
    if info.get("landlock"):
        parts.append(f"Landlock ABI {info.get('landlock_abi')}")
    if info.get("namespace"):
        parts.append("read-only user+mount namespace")
    if info.get("pid_namespace"):
        parts.append("PID and network (loopback only) namespaces")
    elif layer != "none":
        parts.append("subreaper")
    if info.get("max_memory"):
        parts.append(f"memory cap {_gib(info['max_memory'])} GiB")
    why = [info[k] for k in ("namespace_error", "landlock_error") if info.get(k)]
    return (f"sandbox: {layer}" + (f" ({', '.join(parts)})" if parts else "")
            + (f"; not available: {'; '.join(why)}" if why else ""))


def _tail(path: Path, n: int = TAIL_CHARS) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _kill_group(proc: Any, graceful: bool = False) -> None:  # a Popen or a warm.WarmProc
    if graceful:  # torchrun: SIGTERM first, so the launcher ends its workers (they run in sessions of their own)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=launch.TERM_GRACE_S)
        except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
            pass
        time.sleep(launch.TERM_GRACE_S)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Parse the evidence file; a half-written last line (the child was killed mid-write) is skipped."""
    out = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _start(cfg_path: Path, workdir: Path, env: dict[str, str], tmp: Path, nproc_per_node: int | None) -> Any:
    """The child: forked from the warm template when warm probes are on (warm.py), else the cold command line
    (always for torchrun: its launcher starts the ranks itself). Either way a new session whose stdout/stderr are
    the probe folder's files, confined by sandbox.py."""
    harness = launch.command(str(cfg_path), nproc_per_node)
    if sys.platform.startswith("linux"):
        proc = None if nproc_per_node else warm.launch(
            cfg_path=str(cfg_path), cwd=str(workdir), env=env, stdout=str(tmp / "stdout.txt"),
            stderr=str(tmp / "stderr.txt"), argv0=str(Path(__file__).with_name("harness.py")))
        if proc is not None:
            STARTS["warm"] += 1
            return proc
        # by path and without site-packages: sandbox.py is stdlib-only, and importing the package (pydantic)
        # would add half a second to every probe
        harness = [sys.executable, "-S", str(Path(__file__).with_name("sandbox.py")), str(cfg_path), "--", *harness]
    STARTS["cold"] += 1
    with open(tmp / "stdout.txt", "ab") as out_f, open(tmp / "stderr.txt", "ab") as err_f:
        return subprocess.Popen(harness, cwd=str(workdir), stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)


def child_env(sandbox: Path, child_tmp: Path) -> dict[str, str]:
    """The probe child's environment: this process's, this checkout on PYTHONPATH, and the probe's folders."""
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])  # tools/, so an uninstalled checkout works too
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",  # importing the user's modules must not add __pycache__ to their tree
        WANDB_MODE="disabled", WANDB_DIR=str(sandbox), WANDB_SILENT="true",
        MLFLOW_TRACKING_URI=(sandbox / "mlruns").as_uri(),
        HF_HUB_OFFLINE="1",  # the network namespace has no route out: fail fast instead of retrying
        MPLCONFIGDIR=str(child_tmp),  # matplotlib writes its cache at import; the home folder is read-only
        TRAINTRIAGE_PROBE="1",
        # multiprocessing (DataLoader workers) binds sockets under tempfile.gettempdir(); a /tmp folder
        # would be mirrored by the write sandbox and the bind would miss it.
        TMPDIR=str(child_tmp), TEMP=str(child_tmp), TMP=str(child_tmp),
    )
    return env


def warm_up() -> Any:
    """Start the warm template for this process's probes now, when warm probes are on (warm.py), so that the next
    probe can fork from it; returns it (or None). A probe never waits for it."""
    here = Path(tempfile.gettempdir())
    return warm.warm_up(child_env(here, here))


def run_child(
    script: str | os.PathLike,
    *,
    mode: str = "overfit",
    steps: int = 40,
    timeout: float = 120.0,
    args: Sequence[str] = (),
    cwd: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    extra: dict[str, Any] | None = None,
    max_memory: int | None = None,
    nproc_per_node: int | None = None,
) -> dict[str, Any]:
    """Run the script under the harness; return the raw run: records, tails, status, seconds, sandbox.

    max_memory: the child's memory cap in bytes (default MEMORY_FRACTION of RAM). nproc_per_node: launch the
    script through torch.distributed.run with that many ranks, the harness in each (probe/launch.py); the raw
    run then also holds `rank_records` (one list per rank; `records` is rank 0's)."""
    script_p = Path(script).resolve()
    workdir = Path(cwd).resolve() if cwd else script_p.parent
    tmp = Path(tempfile.mkdtemp(prefix="traintriage-probe-"))
    sandbox = tmp / "sandbox"
    sandbox.mkdir()
    child_tmp = tmp / "tmp"  # the child's TMPDIR: inside the probe's own folder, which the sandbox leaves alone
    child_tmp.mkdir()
    evidence = tmp / "evidence.jsonl"
    evidence.touch()
    max_memory = max_memory or default_max_memory()
    cfg = {"script": str(script_p), "args": list(args), "mode": mode, "steps": int(steps),
           "evidence": str(evidence), "sandbox": str(sandbox), "probe_dir": str(tmp), "max_memory": max_memory,
           **(extra or {})}  # extra: e.g. the grads recording's keys
    if nproc_per_node:
        cfg["nproc"] = int(nproc_per_node)
    cfg_path = tmp / "config.json"
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    env = child_env(sandbox, child_tmp)
    env.update(launch.rank_env(script_p, nproc_per_node, env))
    (tmp / "stdout.txt").touch()
    (tmp / "stderr.txt").touch()
    t0 = time.perf_counter()
    status = "exited"
    global _in_flight
    with _flight_lock:
        if _in_flight and not any(k in env for k in THREAD_ENV):
            env.update(dict.fromkeys(THREAD_ENV, "1"))
        _in_flight += 1
    try:
        if on_progress is not None:  # at once: the child's imports (torch) take seconds before the first step
            on_progress(0, steps, "starting the script (importing torch and its modules)")
        proc = _start(cfg_path, workdir, env, tmp, nproc_per_node)
        seen_steps = 0
        seen_forward = False
        pos = 0
        buf = b""
        while True:
            rc = proc.poll()
            # progress: read the new complete lines of the evidence file
            if on_progress is not None:
                with open(evidence, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                pos += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    try:
                        r = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if r.get("kind") == "root" and not seen_forward and not seen_steps:
                        seen_forward = True
                        on_progress(0, steps, "the script is running: first forward pass of its model")
                    if r.get("kind") == "step" and r.get("opt") == 0:
                        seen_steps += 1
                        loss = r.get("loss")
                        on_progress(seen_steps, steps, f"step {seen_steps}/{steps}" +
                                    (f" loss {loss:.4g}" if isinstance(loss, (int, float)) else ""))
            if rc is not None:
                break
            if cancel is not None and cancel.is_set():
                _kill_group(proc, graceful=bool(nproc_per_node))
                status = "cancelled"
                break
            if time.perf_counter() - t0 > timeout:
                _kill_group(proc, graceful=bool(nproc_per_node))
                status = "timeout"
                break
            time.sleep(POLL_S)
        # the child may have left DataLoader workers behind in its group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        seconds = time.perf_counter() - t0
        records = read_records(evidence)
        info = _read_json(tmp / "sandbox.json") or {"layer": "python"}
        ranks = [records] + [read_records(launch.rank_evidence(evidence, r)) for r in range(1, nproc_per_node or 0)]
        if status == "exited":
            for rank_recs in ranks:
                _honest_end(rank_recs, {} if nproc_per_node else _read_json(tmp / "child-exit.json"), max_memory)
        return {
            "nproc": nproc_per_node or None, "rank_records": ranks if nproc_per_node else [],
            "status": status, "returncode": proc.returncode, "seconds": seconds, "sandbox": info,
            "records": records,
            "stdout_tail": _tail(tmp / "stdout.txt"), "stderr_tail": _tail(tmp / "stderr.txt"),
            "script": str(script_p), "cwd": str(workdir), "mode": mode, "steps": int(steps),
            "timeout": timeout,
        }
    finally:
        with _flight_lock:
            _in_flight -= 1
        shutil.rmtree(tmp, ignore_errors=True)


def probe_with_records(
    script: str | os.PathLike,
    *,
    mode: str = "overfit",
    steps: int = 40,
    timeout: float = 120.0,
    args: Sequence[str] = (),
    cwd: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    extra: dict[str, Any] | None = None,
    max_memory: int | None = None,
    nproc_per_node: int | None = None,
) -> tuple[Report, list[dict[str, Any]]]:
    """run_probe, also returning the child's raw evidence records (for callers that switched extra hooks
    on through `extra`, e.g. triage reading the grads recording's `grads` records from the same run)."""
    from traintriage.probe.evidence import build_evidence, build_report

    if mode not in ("overfit", "observe"):
        raise ValueError(f"mode must be 'overfit' or 'observe', not {mode!r}")
    p = Path(script)
    if not p.is_file():
        raise FileNotFoundError(f"no such script: {script}")
    raw = run_child(p, mode=mode, steps=steps, timeout=timeout, args=args, cwd=cwd,
                    on_progress=on_progress, cancel=cancel, extra=extra, max_memory=max_memory,
                    nproc_per_node=nproc_per_node)
    report = build_report(build_evidence(raw), raw)
    report.notes.append(sandbox_note(raw["sandbox"]))
    report.notes += __import__("traintriage.probe.overrides", fromlist=["describe"]).describe(extra)
    report.metrics["sandbox"] = raw["sandbox"].get("layer", "python")
    return report, raw["records"]


def run_probe(
    script: str | os.PathLike,
    *,
    mode: str = "overfit",
    steps: int = 40,
    timeout: float = 120.0,
    args: Sequence[str] = (),
    cwd: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    max_memory: int | None = None,
    extra: dict[str, Any] | None = None,  # child config keys, e.g. overrides.child_config(lr_scale=0.1)
    only: Sequence[str] | None = None,
    skip: Sequence[str] | None = None,
    nproc_per_node: int | None = None,
) -> Report:
    """Run an unmodified training script under instrumentation and name what keeps it from learning.

    mode="overfit" replays the first batch of every DataLoader and disables dropout, then checks that
    the loss falls (Karpathy's "overfit one batch"); mode="observe" changes nothing the script sees.
    max_memory caps the child's memory in bytes (default MEMORY_FRACTION of RAM). only / skip: probe check ids
    to keep / turn off (an unknown id raises probe.detectors.UnknownCheckError).
    """
    from traintriage.probe.detectors import checks_config

    extra = {**(extra or {}), **checks_config(only, skip)}
    report, _records = probe_with_records(script, mode=mode, steps=steps, timeout=timeout, args=args, cwd=cwd,
                                          on_progress=on_progress, cancel=cancel, max_memory=max_memory, extra=extra,
                                          nproc_per_node=nproc_per_node)
    return report
