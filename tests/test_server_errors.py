"""`traintriage serve` as a real subprocess under the SDK's stdio client (given our environment, so it
runs this checkout's code: the SDK passes a child only a few variables by default): every failure is a ToolError with
its reason (never a bare "Error executing tool"), no error quotes the file it is about, the server keeps
serving after each, and roots are a ceiling (a client declaring `file:///` gets only `--root`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import ListRootsResult, Root

REPO = Path(__file__).resolve().parent.parent
SECRET = "hunter2-do-not-echo"


def _reason(result, tool: str) -> str:
    assert result.is_error, result.structured_content
    text = result.content[0].text
    prefix = f"Error executing tool {tool}"
    assert text.startswith(prefix + ": ") and len(text) > len(prefix) + 10, f"no reason given: {text!r}"
    return text


async def _roots_whole_disk(context):  # noqa: ANN001 - the SDK's callback signature
    return ListRootsResult(roots=[Root(uri="file:///", name="everything")])


@pytest.mark.slow
def test_failures_are_tool_errors_with_reasons_and_roots_are_a_ceiling(tmp_path):
    proj, outside = tmp_path / "proj", tmp_path / "outside"
    proj.mkdir()
    outside.mkdir()
    (outside / "train.py").write_text("print('must not be read')\n")
    (proj / "train.py").write_text("x = 1\n")
    (proj / "notes.txt").write_text(f"password = {SECRET}\nnot python (\n")
    (proj / "metrics.csv").write_text(f"{SECRET}\n1\n")
    (proj / "bad.jsonl").write_text(f'{{"step": 1, "loss": "{SECRET}"\n')
    (proj / "empty_run").mkdir()
    params = StdioServerParameters(command=sys.executable, args=["-m", "traintriage", "serve", "--root", str(proj)],
                                   cwd=str(REPO), env=dict(os.environ))

    async def go():
        async with Client(params, mode="legacy", list_roots_callback=_roots_whole_disk) as c:
            out = {
                "outside": await c.call_tool("lint_script", {"script": str(outside / "train.py")}),
                "inside": await c.call_tool("lint_script", {"script": "train.py"}),
                "not_python": await c.call_tool("lint_script", {"script": "notes.txt"}),
                "folder": await c.call_tool("lint_script", {"script": "empty_run"}),
                "missing_log": await c.call_tool("read_run_logs", {"path": "nope.log"}),
                "empty_run": await c.call_tool("read_run_logs", {"path": "empty_run"}),
                "bad_format": await c.call_tool("read_run_logs", {"path": "train.py", "format": "xml"}),
            }
            for name in ("metrics.csv", "bad.jsonl", "notes.txt"):
                out[name] = await c.call_tool("read_run_logs", {"path": name})
            out["bad_args"] = await c.call_tool("probe_script", {"script": "train.py", "steps": 0})
            out["after"] = await c.call_tool("explain", {"query": "flat-loss"})
            return out

    out = anyio.run(go)
    assert "outside the allowed roots" in _reason(out["outside"], "lint_script")  # file:/// did not widen
    assert "must not be read" not in out["outside"].content[0].text
    assert not out["inside"].is_error, out["inside"].content
    assert "not valid Python" in _reason(out["not_python"], "lint_script")
    assert "folder" in _reason(out["folder"], "lint_script")
    assert "does not exist" in _reason(out["missing_log"], "read_run_logs")
    assert _reason(out["empty_run"], "read_run_logs")
    assert "unknown format" in _reason(out["bad_format"], "read_run_logs")
    for name in ("metrics.csv", "bad.jsonl", "notes.txt"):
        _reason(out[name], "read_run_logs")
    assert "steps" in _reason(out["bad_args"], "probe_script")
    for name, result in out.items():
        assert SECRET not in "".join(getattr(x, "text", "") for x in result.content), name
    assert not out["after"].is_error and out["after"].structured_content["kind"] == "symptom"


# A server whose free-text search (explain.search_all) has a bug (injected: none is known), started as `traintriage serve` is.
_BUGGY_SERVER = """
import sys
import traintriage.explain as ex
def search_all(text, limit=5):
    raise KeyError("a bug we did not plan for")
ex.search_all = search_all
from traintriage.cli import main
raise SystemExit(main(["serve", "--root", sys.argv[1]]))
"""


@pytest.mark.slow
def test_an_internal_error_is_one_line_naming_the_tool_and_the_server_keeps_serving(tmp_path):
    params = StdioServerParameters(command=sys.executable, args=["-c", _BUGGY_SERVER, str(tmp_path)], cwd=str(REPO),
                                   env=dict(os.environ))

    async def go():
        async with Client(params, mode="legacy") as c:
            bad = await c.call_tool("explain", {"query": "loss does not go down"})
            good = await c.call_tool("explain", {"query": "double-softmax"})
            return bad, good

    bad, good = anyio.run(go)
    text = _reason(bad, "explain")
    assert "internal error in tool explain: KeyError" in text and "keeps running" in text and "\n" not in text
    assert not good.is_error and good.structured_content["cause"]["id"] == "double-softmax"
