"""MCP cold start: `traintriage serve` against a one-tool MCPServer started the same way (issue 15, item 7).

    python benchmarks/bench_server_start.py [--rounds 7]

Each round starts both servers as stdio subprocesses, in alternating order, with the SDK's client, and times
process start -> initialize -> tools/list answered (wall) and the server process's CPU time (user+sys, read
from RUSAGE_CHILDREN once the client has closed and reaped it). The SDK import is the floor both pay. Prints
min and median of each and the ratios (goal: traintriage <= 1.2x the one-tool server).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table, ratios  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ONE_TOOL = """\
from mcp.server.mcpserver import MCPServer
server = MCPServer("one")


@server.tool()
def ping() -> str:
    return "pong"


server.run("stdio")
"""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_once(args: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    params = StdioServerParameters(command=sys.executable, args=args, cwd=str(REPO), env=env)

    async def go() -> float:
        t0 = time.perf_counter()
        async with Client(params, mode="legacy") as c:
            await c.list_tools()
            return time.perf_counter() - t0

    c0 = _cpu()
    wall = anyio.run(go)
    return wall, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    servers = {"traintriage serve": ["-m", "traintriage", "serve", "--root", str(REPO)],
               "one-tool MCPServer": ["-c", ONE_TOOL]}
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in servers}
    for i in range(a.rounds):
        for name in (list(servers) if i % 2 == 0 else list(servers)[::-1]):  # interleaved, alternating order
            res[name].append(start_once(servers[name]))
    print(f"start -> tools/list over stdio, {a.rounds} interleaved rounds")
    st = print_table(res)
    print(f"ratio traintriage/one-tool: {ratios(st['traintriage serve'], st['one-tool MCPServer'])} (goal <= 1.2x)")

if __name__ == "__main__":
    main()
