"""`traintriage serve --http`: Streamable HTTP on 127.0.0.1 with the SDK's DNS-rebinding protection."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server():
    port = _free_port()
    exe = shutil.which("traintriage")
    cmd = [exe] if exe else [sys.executable, "-m", "traintriage"]
    proc = subprocess.Popen(
        [*cmd, "serve", "--http", "--port", str(port), "--root", str(REPO)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                err = proc.stderr.read().decode()
                proc.stderr.close()
                pytest.fail(err)
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)
    proc.stderr.close()


def _post(port: int, host: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "POST",
        "/mcp",
        body=body,
        headers={
            "Host": host,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        },
    )
    status = conn.getresponse().status
    conn.close()
    return status


def test_http_serves_tools_and_refuses_a_foreign_host(http_server):
    port = http_server

    async def go():
        async with Client(f"http://127.0.0.1:{port}/mcp") as c:
            names = {t.name for t in (await c.list_tools()).tools}
            r = await c.call_tool("explain", {"query": "double-softmax"})
            return names, r

    names, r = anyio.run(go)
    assert "explain" in names and not r.is_error
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host header
    assert _post(port, "evil.example:80") in (400, 403, 421)
    assert _post(port, f"127.0.0.1:{port}") not in (403, 421)
