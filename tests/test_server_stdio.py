"""`traintriage serve` as a real subprocess: the SDK's stdio client, and the MCP Inspector CLI (a third-party
client, via npx) when npm can fetch it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parent.parent

# Start -> tools/list answered, on a quiet machine ~0.9 s, almost all of it importing the mcp SDK (~0.75 s).
# The bound is loose so a loaded CI box does not flake; the number is printed for the record.
START_BUDGET_S = 10.0


def _serve_cmd() -> tuple[str, list[str]]:
    exe = shutil.which("traintriage")
    if exe:
        return exe, ["serve", "--root", str(REPO)]
    return sys.executable, ["-m", "traintriage", "serve", "--root", str(REPO)]


@pytest.mark.slow
def test_stdio_round_trip_lists_tools_and_calls_one(capsys):
    cmd, args = _serve_cmd()

    async def go():
        t0 = time.perf_counter()
        params = StdioServerParameters(command=cmd, args=args, cwd=str(REPO), env=dict(os.environ))  # this checkout
        async with Client(params, mode="legacy") as c:  # the initialize handshake real clients do today
            tools = (await c.list_tools()).tools
            t_list = time.perf_counter() - t0
            r = await c.call_tool("explain", {"query": "flat-loss"})
            bad = await c.call_tool("explain", {"query": "no-such-cause"})
            res = await c.read_resource("traintriage://catalogue/lr-too-low")
            return t_list, tools, r, bad, res

    t_list, tools, r, bad, res = anyio.run(go)
    with capsys.disabled():
        print(f"\n[traintriage serve] start -> tools/list: {t_list:.3f} s")
    assert t_list < START_BUDGET_S
    assert "explain" in {t.name for t in tools}
    assert not r.is_error and r.structured_content["kind"] == "symptom"
    assert bad.is_error and "unknown id" in bad.content[0].text
    assert "lr-too-low" in res.contents[0].text


def _npx_inspector(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed (Node.js): the MCP Inspector CLI cannot run")
    cmd, serve_args = _serve_cmd()
    env = dict(os.environ, npm_config_yes="true")
    try:
        proc = subprocess.run(
            [npx, "-y", "@modelcontextprotocol/inspector", "--cli", cmd, *serve_args, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npx could not fetch/run @modelcontextprotocol/inspector in time (offline?)")
    if proc.returncode != 0 and (
        "ENOTFOUND" in proc.stderr or "EAI_AGAIN" in proc.stderr or "E404" in proc.stderr
    ):
        pytest.skip(f"npm cannot fetch the inspector (offline?): {proc.stderr.strip()[-200:]}")
    return proc


@pytest.mark.slow
def test_mcp_inspector_cli_lists_tools_and_calls_explain():
    proc = _npx_inspector("--method", "tools/list")
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {t["name"] for t in json.loads(proc.stdout)["tools"]}
    assert {"explain", "classify_rough_map"} <= names

    proc = _npx_inspector(
        "--method", "tools/call", "--tool-name", "explain", "--tool-arg", "query=double-softmax"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert not out.get("isError")
    assert out["structuredContent"]["cause"]["id"] == "double-softmax"
