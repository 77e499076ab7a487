"""Parent side of the probe: start the child, watch it, kill it on timeout or cancel, read its evidence.

The child (`python -m traintriage.probe.harness CONFIG`) runs in its own session (process group), so a
kill takes its DataLoader workers with it. Its stdout/stderr go to files (no pipe can fill and block it);
its evidence goes to a JSON-lines file the parent polls for progress. Everything the child writes outside
temp dirs is redirected into a sandbox that is deleted afterwards, so the user's tree is left as it was.
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

from traintriage.report import Report

# How often the parent polls the child for progress, exit, timeout and cancel (seconds).
POLL_S = 0.05
# Characters of the script's stdout / stderr kept in the report.
TAIL_CHARS = 3000

ProgressFn = Callable[[int, int, str], None]


def _tail(path: Path, n: int = TAIL_CHARS) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _kill_group(proc: subprocess.Popen) -> None:
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
) -> dict[str, Any]:
    """Run the script under the harness; return the raw run: records, tails, status, seconds."""
    script_p = Path(script).resolve()
    workdir = Path(cwd).resolve() if cwd else script_p.parent
    tmp = Path(tempfile.mkdtemp(prefix="traintriage-probe-"))
    sandbox = tmp / "sandbox"
    sandbox.mkdir()
    child_tmp = tmp / "tmp"  # the child's TMPDIR: inside the probe's own folder, which the sandbox leaves alone
    child_tmp.mkdir()
    evidence = tmp / "evidence.jsonl"
    evidence.touch()
    cfg = {"script": str(script_p), "args": list(args), "mode": mode, "steps": int(steps),
           "evidence": str(evidence), "sandbox": str(sandbox), **(extra or {})}  # extra: e.g. grads_probe's keys
    cfg_path = tmp / "config.json"
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])  # tools/, so an uninstalled checkout works too
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",  # importing the user's modules must not add __pycache__ to their tree
        WANDB_MODE="disabled", WANDB_DIR=str(sandbox), WANDB_SILENT="true",
        MLFLOW_TRACKING_URI=(sandbox / "mlruns").as_uri(),
        TRAINTRIAGE_PROBE="1",
        # multiprocessing (DataLoader workers) binds sockets under tempfile.gettempdir(); a /tmp folder
        # would be mirrored by the write sandbox and the bind would miss it.
        TMPDIR=str(child_tmp), TEMP=str(child_tmp), TMP=str(child_tmp),
    )
    out_f = open(tmp / "stdout.txt", "wb")
    err_f = open(tmp / "stderr.txt", "wb")
    t0 = time.perf_counter()
    status = "exited"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "traintriage.probe.harness", str(cfg_path)],
            cwd=str(workdir), stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )
        seen_steps = 0
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
                    if r.get("kind") == "step" and r.get("opt") == 0:
                        seen_steps += 1
                        loss = r.get("loss")
                        on_progress(seen_steps, steps, f"step {seen_steps}/{steps}" +
                                    (f" loss {loss:.4g}" if isinstance(loss, (int, float)) else ""))
            if rc is not None:
                break
            if cancel is not None and cancel.is_set():
                _kill_group(proc)
                status = "cancelled"
                break
            if time.perf_counter() - t0 > timeout:
                _kill_group(proc)
                status = "timeout"
                break
            time.sleep(POLL_S)
        # the child may have left DataLoader workers behind in its group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        seconds = time.perf_counter() - t0
        out_f.close()
        err_f.close()
        return {
            "status": status, "returncode": proc.returncode, "seconds": seconds,
            "records": read_records(evidence),
            "stdout_tail": _tail(tmp / "stdout.txt"), "stderr_tail": _tail(tmp / "stderr.txt"),
            "script": str(script_p), "cwd": str(workdir), "mode": mode, "steps": int(steps),
            "timeout": timeout,
        }
    finally:
        if not out_f.closed:
            out_f.close()
        if not err_f.closed:
            err_f.close()
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
) -> tuple[Report, list[dict[str, Any]]]:
    """run_probe, also returning the child's raw evidence records (for callers that switched extra hooks
    on through `extra`, e.g. triage reading grads_probe's `grads` records from the same run)."""
    from traintriage.probe.evidence import build_evidence, build_report

    if mode not in ("overfit", "observe"):
        raise ValueError(f"mode must be 'overfit' or 'observe', not {mode!r}")
    p = Path(script)
    if not p.is_file():
        raise FileNotFoundError(f"no such script: {script}")
    raw = run_child(p, mode=mode, steps=steps, timeout=timeout, args=args, cwd=cwd,
                    on_progress=on_progress, cancel=cancel, extra=extra)
    report = build_report(build_evidence(raw), raw)
    report.notes += __import__("traintriage.probe.overrides", fromlist=["describe"]).describe(extra)
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
    extra: dict[str, Any] | None = None,  # child config keys, e.g. overrides.child_config(lr_scale=0.1)
) -> Report:
    """Run an unmodified training script under instrumentation and name what keeps it from learning.

    mode="overfit" replays the first batch of every DataLoader and disables dropout, then checks that
    the loss falls (Karpathy's "overfit one batch"); mode="observe" changes nothing the script sees.
    """
    report, _records = probe_with_records(script, mode=mode, steps=steps, timeout=timeout, args=args, cwd=cwd,
                                          on_progress=on_progress, cancel=cancel, extra=extra)
    return report
