"""Warm probes over MCP: a repeated `triage_script` call against `python -c "import torch, torch._dynamo"`.

    python benchmarks/bench_warm_probe.py [--rounds 5] [--case lr-too-low-sgd] [--steps 30]

Starts `traintriage serve` over stdio with the SDK's client, makes one triage_script call on a small eval case
(it starts the server's warm template), then interleaves, round by round, another triage_script call with a
bare `python -c "import torch, torch._dynamo"` (the floor a cold probe pays on every call). Wall time is
measured at the caller; CPU time (user+sys) is summed over the whole process tree below this script from
/proc (the server, its template and every probe the template forked and reaped). Prints min and median of
each and the ratios; issue 15's goal is a triage_script call <= 0.25x the import's wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table, ratios  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu() -> float:
    """CPU seconds of every live descendant of this process, with what each has reaped (cutime/cstime)."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_bytes()
        except OSError:
            continue
        f = stat[stat.rfind(b")") + 2:].split()
        parent[int(d)] = int(f[1])
        cpu[int(d)] = sum(int(x) for x in f[11:15]) / TICK  # utime stime cutime cstime
    total, todo = 0.0, [os.getpid()]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p:
                total += cpu.get(c, 0.0)
                todo.append(c)
    return total


def _import_once() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, torch._dynamo"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--case", default="lr-too-low-sgd")
    ap.add_argument("--steps", type=int, default=30)
    a = ap.parse_args()
    script = REPO / "evals" / "cases" / a.case / "train.py"
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "traintriage", "serve", "--root", str(REPO)],
                                   cwd=str(REPO), env=env)
    calls: list[tuple[float, float]] = []
    imports: list[tuple[float, float]] = []

    async def go() -> float:
        async with Client(params, mode="legacy") as c:
            args = {"script": str(script), "steps": a.steps, "timeout": 300}
            t0 = time.perf_counter()
            first = await c.call_tool("triage_script", args)
            assert not first.is_error, first.content
            t_first = time.perf_counter() - t0
            for _ in range(a.rounds):
                c0, t0 = _tree_cpu(), time.perf_counter()
                r = await c.call_tool("triage_script", args)
                calls.append((time.perf_counter() - t0, _tree_cpu() - c0))
                assert not r.is_error and r.structured_content["verdict"] != "crashed", r.content
                r0 = os.times()
                wall = await anyio.to_thread.run_sync(_import_once)
                r1 = os.times()
                imports.append((wall, (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)))
            return t_first

    t_first = anyio.run(go)
    print(f"triage_script over MCP on evals/cases/{a.case} ({a.steps} steps), {a.rounds} interleaved rounds; "
          f"first call (starts the template) {t_first:.2f} s wall")
    st = print_table({"triage_script (warm, 2nd+ call)": calls, "python -c 'import torch, _dynamo'": imports})
    t, i = st.values()
    print(f"ratio triage/import: {ratios(t, i)} (goal <= 0.25x wall)")

if __name__ == "__main__":
    main()
