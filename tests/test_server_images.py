"""MCP over stdio with the SDK's client (issue 19 items 4 and 6): the figures come back as PNG image blocks when
asked (images=true), and a log result says each number once (statistics in the summary, points paged)."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
LOG = REPO / "tests" / "data" / "logs" / "hf_trainer_state.json"  # 12 points of loss, 8 metrics
DEMO = REPO / "tools" / "traintriage" / "demos" / "double-softmax-mlp" / "train.py"
PNG = b"\x89PNG\r\n\x1a\n"

# The 12-point log came back as 13,841 characters of text before (the report repeated the summary's per-metric
# statistics, the summary held every point, and the SDK indented the JSON); now about 3,000. The bound leaves
# room for longer temp paths, not for a repeat of the statistics (about 2,000 characters).
LOG_TEXT_BUDGET = 4500


def _pngs(result) -> dict[str, bytes]:  # noqa: ANN001 - a CallToolResult
    out, name = {}, None
    for block in result.content:
        if block.type == "text" and block.text.startswith("figure: "):
            name = block.text.removeprefix("figure: ")
        elif block.type == "image":
            assert block.mime_type == "image/png"
            out[name] = base64.b64decode(block.data)
    return out


@pytest.mark.slow
def test_images_and_paged_logs_over_stdio():
    params = StdioServerParameters(command=sys.executable, args=["-m", "traintriage", "serve", "--root", str(REPO)],
                                   cwd=str(REPO), env=dict(os.environ))

    async def go():
        async with Client(params, mode="legacy") as c:
            plain = await c.call_tool("read_run_logs", {"path": str(LOG)})
            pts = await c.call_tool("read_run_logs", {"path": str(LOG), "points": True})
            page = await c.call_tool("read_run_logs", {"path": str(LOG), "metric": "loss", "limit": 5})
            logs_img = await c.call_tool("read_run_logs", {"path": str(LOG), "images": True})
            tri = await c.call_tool("triage_script", {"script": str(DEMO), "steps": 8, "images": True})
            tri_plain = await c.call_tool("triage_script", {"script": str(DEMO), "steps": 8})
            return plain, pts, page, logs_img, tri, tri_plain

    plain, pts, page, logs_img, tri, tri_plain = anyio.run(go)
    for r in (plain, pts, page, logs_img, tri, tri_plain):
        assert not r.is_error, r.content[0].text[:500]

    # logs: one text block, compact, each number once
    (text,) = [b.text for b in plain.content]
    assert len(text) < LOG_TEXT_BUDGET, len(text)
    data = json.loads(text)
    assert data == plain.structured_content
    assert data["report"]["metrics"] == {} and data["summary"]["metrics"]["loss"]["count"] == 12
    assert all("points" not in m for m in data["summary"]["metrics"].values())
    assert pts.structured_content["summary"]["metrics"]["loss"]["points"]["total"] == 12
    series = page.structured_content["series"]
    assert len(series["values"]) == 5 and series["total_points"] == 12 and series["next_offset"] == 5
    assert _pngs(plain) == {}
    (curves,) = _pngs(logs_img).values()
    assert curves.startswith(PNG)

    # triage: the HTML report's figures as image blocks, only when asked
    figs = _pngs(tri)
    assert {"loss", "norms", "lr"} <= set(figs) and all(p.startswith(PNG) for p in figs.values())
    assert tri.structured_content["verdict"] == "broken"
    assert _pngs(tri_plain) == {} and all(b.type == "text" for b in tri_plain.content)
