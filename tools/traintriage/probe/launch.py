"""How the probe's child is launched: one process, or PyTorch's own launcher with the harness in every rank.

With ``nproc_per_node`` the sandboxed command is ``python -m torch.distributed.run --nproc-per-node N ... -m
traintriage.probe.harness CONFIG``: torchrun starts N workers, each runs the harness (hooks, then the user's
script), and every worker writes its own evidence file (rank 0 the usual one, rank r ``evidence.jsonl.rank<r>``).
All ranks live in the same sandbox (sandbox.py: one network namespace with loopback only), so the rendezvous
and gloo run over 127.0.0.1 and nothing else is reachable.

Without it, a script that calls ``init_process_group`` with the env:// method (the default) still runs: it gets
the environment of a single-rank job (RANK=0, WORLD_SIZE=1, a free loopback port), unless the caller set one.

Stdlib only: runner.py imports it at start-up.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

# torchrun checks its workers this often (seconds; its default is 0.1 in 2.x, 5 in older releases): a rank
# that failed ends the others this soon after.
MONITOR_INTERVAL_S = 0.1
# After SIGTERM to the launcher (timeout, cancel), seconds given to it to end its workers before SIGKILL; its
# own workers get SIGTERM from it (torch/distributed/elastic/multiprocessing: PContext.close).
TERM_GRACE_S = 1.0
# Loopback only (DESIGN.md, Safety): the rendezvous store and gloo bind here.
LOOPBACK = "127.0.0.1"
# The source text that says a script initialises a process group (the env:// default needs RANK etc.).
INIT_MARKER = "init_process_group"


def free_port() -> int:
    """A TCP port free on the loopback interface now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def command(cfg_path: str, nproc_per_node: int | None) -> list[str]:
    """The child's command line: the harness, under torchrun when nproc_per_node is given."""
    harness = ["-m", "traintriage.probe.harness", cfg_path]
    if not nproc_per_node:
        return [sys.executable, *harness]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={int(nproc_per_node)}",
            "--nnodes=1", f"--master-addr={LOOPBACK}", f"--master-port={free_port()}", f"--local-addr={LOOPBACK}",
            "--max-restarts=0", f"--monitor-interval={MONITOR_INTERVAL_S}", *harness]


def rank_env(script: Path, nproc_per_node: int | None, env: dict[str, str]) -> dict[str, str]:
    """Environment the child needs on top of `env`: gloo on loopback; for one process, a single-rank job's
    variables when the script initialises a process group and the caller set none."""
    out = {"GLOO_SOCKET_IFNAME": env.get("GLOO_SOCKET_IFNAME", "lo")}
    if nproc_per_node:
        out["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")  # torchrun's own default, without its warning
        return out
    try:
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    if INIT_MARKER in text and "RANK" not in env and "WORLD_SIZE" not in env:
        out.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR=LOOPBACK,
                   MASTER_PORT=str(free_port()))
    return out


def rank_evidence(evidence: Path | str, rank: int) -> Path:
    """The evidence file of `rank` (rank 0 writes the probe's usual one)."""
    return Path(f"{evidence}.rank{rank}") if rank else Path(evidence)


def child_rank(cfg: dict) -> int | None:
    """In the child: this worker's rank when the probe launched ranks (None for a one-process probe)."""
    if not cfg.get("nproc"):
        return None
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0
