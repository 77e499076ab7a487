"""`traintriage serve` starts cheap (issue 15, item 7): it answers tools/list without importing torch or the probe.

The server is started the real way (a subprocess over stdio, the SDK's client) under `python -X importtime`,
whose stderr lists every module the process imported; after the handshake and tools/list the list must hold
neither torch nor traintriage.probe (the tools import them when called, and the warm probe template is a
separate process started by the first probe call). The control: the same check sees torch once a tool that
needs it has run, so the check can fail. The wall-time comparison with a one-tool MCPServer is
benchmarks/bench_server_start.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
# Modules whose import at start would cost seconds (torch) or pull in torch later (the probe package).
FORBIDDEN_AT_START = ("torch", "traintriage.probe")


def _imported(log: Path) -> set[str]:
    """Module names from a `-X importtime` log ("import time: self | cumulative | name", indented by depth)."""
    out = set()
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                out.add(name)
    return out


def _serve(log: Path, calls: list[tuple[str, dict]]) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # stderr to a file: the shell redirects it, so the SDK client still owns stdin/stdout
    params = StdioServerParameters(
        command="/bin/sh", args=["-c", 'exec "$@" 2>"$LOG"', "sh", sys.executable, "-X", "importtime", "-m",
                                 "traintriage", "serve", "--root", str(REPO)],
        cwd=str(REPO), env={**env, "LOG": str(log)})

    async def go() -> None:
        async with Client(params, mode="legacy") as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert "triage_script" in names and "explain" in names, names
            for tool, args in calls:
                await c.call_tool(tool, args)

    anyio.run(go)
    return _imported(log)


def _hits(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_AT_START))


@pytest.mark.slow
def test_serve_answers_tools_list_without_importing_torch_or_the_probe(tmp_path: Path) -> None:
    mods = _serve(tmp_path / "start.log", [("explain", {"query": "flat-loss"})])
    assert "mcp" in mods and "traintriage.server" in mods, "the import log is not the server's"
    assert _hits(mods) == [], f"imported at start: {_hits(mods)[:10]}"


@pytest.mark.slow
def test_the_check_sees_the_probe_once_a_tool_imports_it(tmp_path: Path) -> None:
    """The control: probe_script imports the probe before it resolves its path, so a call that fails on a
    missing script still shows traintriage.probe in the same log: an eager import at start could not hide."""
    mods = _serve(tmp_path / "tool.log", [("probe_script", {"script": str(REPO / "no-such-script.py")})])
    assert "traintriage.probe" in _hits(mods)
