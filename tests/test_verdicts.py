"""One truth about verdicts and exit codes (issue 19 item 5): README.md, SKILL.md, the CLI's text and the MCP
output schema say what report.VERDICT_MEANING says; every finding a person reads ends with the command that
explains it; the detectors' phrases give their numbers with a unit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from traintriage.errors import exit_code_for
from traintriage.render import explain_command, format_report
from traintriage.report import VERDICT_MEANING, Finding, Report, Symptom

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "logs"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("doc", ["README.md", "SKILL.md"])
def test_docs_say_what_each_verdict_means_in_the_same_words(doc):
    text = _flat((REPO / doc).read_text(encoding="utf-8"))
    for verdict, meaning in VERDICT_MEANING.items():
        assert meaning in text, (doc, verdict)


def test_readme_exit_code_table_matches_exit_code_for():
    rows = dict(re.findall(r"^\| (\d) \| (.+) \|$", (REPO / "README.md").read_text(encoding="utf-8"), re.M))
    for verdict in VERDICT_MEANING:
        assert f"`{verdict}`" in rows[str(exit_code_for(verdict))], verdict
    assert exit_code_for("healthy") == 0 and exit_code_for("broken") == 1 and exit_code_for("crashed") == 4


def test_mcp_schema_carries_the_meanings():
    desc = Report.model_json_schema()["properties"]["verdict"]["description"]
    assert all(m in desc for m in VERDICT_MEANING.values())


def test_probe_text_ends_each_finding_and_symptom_with_explain():
    rep = Report(tool="triage", target="t.py", verdict="broken",
                 findings=[Finding(id="double-softmax", severity="error", confidence=0.9, message="m"),
                           Finding(id="lr-too-low", severity="warning", confidence=0.5, message="m")],
                 symptoms=[Symptom(id="flat-loss", message="flat", candidates=["lr-too-low"])])
    lines = format_report(rep).splitlines()
    assert VERDICT_MEANING["broken"] in lines[2] and "exit 1" in lines[2]
    for fid in ("double-softmax", "lr-too-low", "flat-loss"):
        i = next(i for i, ln in enumerate(lines) if explain_command(fid) in ln)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        assert not nxt.startswith("      "), (fid, nxt)  # the explain line closes the item


def _cli(*args: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "traintriage", *args], capture_output=True, text=True, timeout=120,
                       cwd=REPO)
    return p.returncode, p.stdout


def test_lint_and_logs_text_end_findings_with_explain(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import torch\nimport torch.nn.functional as F\nmodel = torch.nn.Linear(4, 3)\n"
                      "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nx = torch.randn(8, 4)\n"
                      "y = torch.randint(0, 3, (8,))\nfor _ in range(3):\n"
                      "    loss = F.cross_entropy(F.softmax(model(x), dim=1), y)\n"
                      "    opt.zero_grad()\n    loss.backward()\n    opt.step()\n", encoding="utf-8")
    code, out = _cli("lint", str(script))
    finding_lines = [ln for ln in out.splitlines() if ln.startswith(str(script))]
    assert code == 1 and finding_lines
    assert all(re.search(r"-> traintriage explain [a-z0-9-]+$", ln) for ln in finding_lines), finding_lines
    assert VERDICT_MEANING["broken"] in out

    log = tmp_path / "log.csv"
    log.write_text("step,loss\n" + "".join(f"{s},{1.0 / (s + 1) if s < 30 else 'nan'}\n" for s in range(50)))
    code, out = _cli("logs", str(log))
    lines = out.splitlines()
    heads = [i for i, ln in enumerate(lines) if re.match(r"  \[(error|warning|info)", ln)]
    assert code == 1 and heads
    for i in heads:  # each symptom / finding block ends with its explain line
        block_end = next(j for j in range(i + 1, len(lines) + 1) if j == len(lines) or not lines[j].startswith("      "))
        assert lines[block_end - 1].strip().startswith("explain: traintriage explain "), lines[i:block_end]


@pytest.mark.slow
def test_no_pinned_batch_means_no_overfit_verdict_word(tmp_path):
    """Issue 19: `healthy`, exit 0, next to 'overfit-one-batch FAILED'. A script that slices its own data has no
    batch the probe can pin, so no overfit verdict is given, and no note may say one."""
    script = tmp_path / "train.py"
    script.write_text("import torch\ntorch.manual_seed(0)\nX, Y = torch.randn(512, 8), torch.randint(0, 4, (512,))\n"
                      "model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))\n"
                      "opt = torch.optim.SGD(model.parameters(), lr=0.05)\nfor i in range(200):\n"
                      "    x, y = X[(i * 32) % 512:(i * 32) % 512 + 32], Y[(i * 32) % 512:(i * 32) % 512 + 32]\n"
                      "    loss = torch.nn.functional.cross_entropy(model(x), y)\n"
                      "    opt.zero_grad()\n    loss.backward()\n    opt.step()\n", encoding="utf-8")
    code, out = _cli("probe", str(script), "--steps", "20", "--json")
    import json

    rep = json.loads(out)
    assert any("no batch pinned, so no overfit verdict" in n for n in rep["notes"]), rep["notes"]
    assert not any("FAILED" in n or "pass <=" in n for n in rep["notes"]), rep["notes"]
    assert code == exit_code_for(rep["verdict"])
