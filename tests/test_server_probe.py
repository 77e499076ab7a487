"""The tools that run the user's script, through the MCP client: progress, cancel kills the child, concurrent
calls, a crashing script. Slow (each probe starts a Python child that imports torch)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import anyio
import pytest
from mcp import Client
from traintriage.server import build_server

REPO = Path(__file__).resolve().parent.parent
CASE = REPO / "evals" / "cases" / "lr-too-low-sgd" / "train.py"

pytestmark = pytest.mark.slow


def _tool_names(server) -> set[str]:
    async def go():
        async with Client(server) as c:
            return {t.name for t in (await c.list_tools()).tools}

    return anyio.run(go)


def _need(server, name: str) -> None:
    if name not in _tool_names(server):
        pytest.skip(f"{name} is not registered (its module has not landed)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; it only waits for its parent to reap it
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_probe_script_reports_progress_and_a_finding():
    if not CASE.is_file():
        pytest.skip("eval case lr-too-low-sgd is missing")
    server = build_server([REPO])
    _need(server, "probe_script")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done, total, message):  # noqa: ANN001
        progress.append((done, total, message))

    async def go():
        async with Client(server) as c:
            return await c.call_tool(
                "probe_script",
                {"script": str(CASE), "steps": 30, "timeout": 120},
                progress_callback=on_progress,
            )

    r = anyio.run(go)
    assert not r.is_error, r.content
    report = r.structured_content
    assert report["tool"] == "probe" and report["verdict"] in ("broken", "healthy", "inconclusive")
    assert progress, "no progress notification reached the client"
    assert all(done <= (total or done) for done, total, _ in progress)


def test_cancelling_a_probe_kills_the_child(tmp_path):
    server = build_server([tmp_path])
    _need(server, "probe_script")
    pidfile = Path("/dev/shm") / f"traintriage-test-{uuid.uuid4().hex}.pid"
    script = tmp_path / "hang.py"
    # The probe's sandbox refuses writes outside its folder except /dev/shm (DataLoader workers' shared memory):
    # that is this script's way out to the test. /proc/self names the pid outside the probe's PID namespace.
    script.write_text(
        "import os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n"
        "os.write(fd, os.readlink('/proc/self').encode()); os.close(fd)\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
    )

    async def go():
        async with Client(server) as c:
            with anyio.move_on_after(60) as scope:
                async with anyio.create_task_group() as tg:

                    async def call():
                        await c.call_tool(
                            "probe_script", {"script": str(script), "args": [str(pidfile)], "timeout": 300}
                        )

                    tg.start_soon(call)
                    while not pidfile.exists() or not pidfile.read_text():
                        await anyio.sleep(0.1)
                    tg.cancel_scope.cancel()  # the client abandons the call: notifications/cancelled
            assert not scope.cancelled_caught, "the child never started"
            # the server is still up and answers
            r = await c.call_tool("explain", {"query": "lr-too-low"})
            assert not r.is_error

    anyio.run(go)
    pid = int(pidfile.read_text())
    pidfile.unlink()
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the child outlived the cancelled call"


def test_a_crashing_script_is_a_report_not_a_dead_server(tmp_path):
    server = build_server([tmp_path])
    _need(server, "probe_script")
    bad = tmp_path / "crash.py"
    bad.write_text("import os\nos._exit(9)\n")
    boom = tmp_path / "boom.py"
    boom.write_text("raise RuntimeError('user bug')\n")

    async def go():
        async with Client(server) as c:
            r1 = await c.call_tool("probe_script", {"script": str(bad), "timeout": 60})
            r2 = await c.call_tool("probe_script", {"script": str(boom), "timeout": 60})
            r3 = await c.call_tool("explain", {"query": "double-softmax"})
            return r1, r2, r3

    r1, r2, r3 = anyio.run(go)
    for r in (r1, r2):
        assert not r.is_error, r.content
        assert r.structured_content["verdict"] in ("crashed", "inconclusive")
    sc = r2.structured_content
    assert "user bug" in sc["stderr_tail"] + " ".join(sc["notes"]), sc
    assert not r3.is_error


def test_concurrent_probes_do_not_interfere(tmp_path):
    server = build_server([tmp_path])
    _need(server, "probe_script")
    scripts = {}
    for name, code in (("ok", 0), ("fail", 3)):
        s = tmp_path / f"{name}.py"
        s.write_text(f"print('I am {name}')\nraise SystemExit({code})\n")
        scripts[name] = s
    results: dict[str, object] = {}

    async def go():
        async with Client(server) as c:

            async def one(name):
                results[name] = await c.call_tool(
                    "probe_script", {"script": str(scripts[name]), "timeout": 60}
                )

            async with anyio.create_task_group() as tg:
                for name in scripts:
                    tg.start_soon(one, name)

    anyio.run(go)
    for name in scripts:
        r = results[name]
        assert not r.is_error, r.content
        assert r.structured_content["target"].endswith(f"{name}.py")
        assert f"I am {name}" in r.structured_content["stdout_tail"]


TWO_TERMS = """\
import torch, torch.nn as nn
import traintriage
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.randn(256, 8), torch.randn(256, 2)
for step in range(60):
    out = model(x)
    fit = nn.functional.mse_loss(out, y)
    reg = traintriage.term("reg", 1e-3 * torch.log1p(out.pow(2).sum(1)).mean())
    loss = fit + reg
    opt.zero_grad(); loss.backward(); opt.step()
"""


def _grads_calls(tmp_path: Path, source: str, *calls: dict):
    """Each call's result of the MCP tool grad_decomposition on one script (written from `source`)."""
    server = build_server([tmp_path])
    _need(server, "grad_decomposition")
    script = tmp_path / "train.py"
    script.write_text(source)

    async def go():
        async with Client(server) as c:
            return [await c.call_tool("grad_decomposition", {"script": str(script), **args}) for args in calls]

    return anyio.run(go)


def test_grad_decomposition_runs_and_names_unknown_terms(tmp_path):
    ok, bad = _grads_calls(tmp_path, TWO_TERMS, {"steps": 10}, {"steps": 5, "ablate": "nope"})
    assert not ok.is_error, ok.content
    assert ok.structured_content["tool"] == "grads"
    assert bad.is_error and "nope" in bad.content[0].text


def test_triage_script_names_the_seeded_cause_with_progress():
    if not CASE.is_file():
        pytest.skip("eval case lr-too-low-sgd is missing")
    server = build_server([REPO])
    _need(server, "triage_script")
    progress = []

    async def on_progress(done, total, message):  # noqa: ANN001
        progress.append(done)

    async def go():
        async with Client(server) as c:
            return await c.call_tool(
                "triage_script", {"script": str(CASE), "steps": 30}, progress_callback=on_progress
            )

    r = anyio.run(go)
    assert not r.is_error, r.content
    sc = r.structured_content
    assert sc["tool"] == "triage" and "lr-too-low" in [f["id"] for f in sc["findings"]][:3]
    assert progress


NO_MARKER = """\
import torch, torch.nn as nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.randn(256, 8), torch.randn(256, 2)
for step in range(60):
    out = model(x)
    fit = ((out - y) ** 2).mean()
    loss = fit + 0.01 * out.pow(2).sum(1).mean()
    opt.zero_grad(); loss.backward(); opt.step()
"""


def test_grad_decomposition_ablates_a_discovered_term_by_id(tmp_path):
    """No marker: the MCP tool's ablate takes the id the first run gave a term found in the graph."""
    (r,) = _grads_calls(tmp_path, NO_MARKER, {"steps": 6, "ablate": "t2"})
    assert not r.is_error, r.content
    m = r.structured_content["metrics"]
    assert [t["expr"] for t in m["terms_found"]] == ["((out - y) ** 2).mean()", "0.01 * out.pow(2).sum(1).mean()"]
    assert m["ablation"]["term"] == "0.01 * out.pow(2).sum(1).mean()" and m["ablation"]["ablated"]
