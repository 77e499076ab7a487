"""The HTML report (issue 19): one self-contained page with the verdict, findings, handbook entries and figures,
checked the way a person sees it: rendered by headless Chromium and looked at."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from traintriage.report import VERDICT_MEANING, Finding, Report
from traintriage.report_html import figures, render_html, write_html

STEPS = list(range(0, 40, 2))


def _report() -> Report:
    loss = [2.3 * 0.9 ** i for i in range(len(STEPS))]
    mods = {f"layers.{i}": [10.0 ** (-i) * (1 - 0.02 * k) for k in range(len(STEPS))] for i in range(4)}
    return Report(
        tool="triage", target="train.py", verdict="broken", seconds=3.2,
        findings=[Finding(id="double-softmax", severity="error", confidence=0.99, where="train.py:12",
                          message="cross_entropy received probabilities <b>instead of logits</b>",
                          evidence={"max_deviation": 1.2e-7, "rows": 64})],
        metrics={"step": STEPS, "loss": loss, "grad_norm": [1.0] * len(STEPS), "update_norm": [0.01] * len(STEPS),
                 "lr": [[1e-3] * len(STEPS)], "rel_update_per_group": [[1e-3] * len(STEPS)],
                 "module_grad_norm_steps": mods, "module_steps": STEPS},
        notes=["overfit-one-batch FAILED"])


def test_page_is_self_contained_and_says_what_a_person_needs():
    page = render_html(_report())
    assert "broken" in page and "double-softmax" in page and "train.py:12" in page
    assert "&lt;b&gt;instead of logits&lt;/b&gt;" in page  # messages are escaped, never markup
    assert "Handbook:" in page and "Fix</dt>" in page  # the catalogue entry itself, rendered
    assert "traintriage explain double-softmax" in page
    assert VERDICT_MEANING["broken"] in page  # what the verdict means, in the words README.md uses
    assert not re.search(r"""(src|href)=["'](?!data:|https?://|#)""", page)  # nothing to fetch from disk
    imgs = re.findall(r'data-figure="([a-z_]+)" src="data:image/png;base64,([^"]+)"', page)
    assert [n for n, _ in imgs] == ["loss", "norms", "lr", "rel_update", "module_grad"]
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for _, b in imgs)


def test_no_steps_no_figures():
    rep = Report(tool="lint", target="t.py", verdict="healthy")
    assert figures(rep) == {} and "What the probe measured" not in render_html(rep)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _screenshot(page: Path, out: Path, profile: Path) -> Path:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--window-size=1100,3000", f"--screenshot={out}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    return out


def _figure_blue_pixels(shot: Path) -> int:
    """Pixels of matplotlib's first line colour (#1f77b4): only the figures have it, never the page's CSS."""
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    return sum(1 for px in img.getdata() if abs(px[0] - 0x1F) < 12 and abs(px[1] - 0x77) < 12
               and abs(px[2] - 0xB4) < 12)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian: apt-get install chromium)")
def test_chromium_renders_the_figures(tmp_path: Path):
    page = write_html(_report(), tmp_path / "report.html")
    blue = _figure_blue_pixels(_screenshot(page, tmp_path / "shot.png", tmp_path / "profile"))
    assert blue > 2000, f"the figures did not render ({blue} figure-blue pixels)"
    no_figs = tmp_path / "nofig.html"
    no_figs.write_text(re.sub(r"<img[^>]+>", "", page.read_text()))
    blue2 = _figure_blue_pixels(_screenshot(no_figs, tmp_path / "shot2.png", tmp_path / "profile2"))
    assert blue2 < 50  # the control: the same page without its figures has none of that colour


@pytest.mark.slow
def test_triage_report_flag_writes_the_page_and_keeps_stdout_one_object(tmp_path: Path):
    """`triage --report PATH --json`: the page has the run's own figures (heatmaps from the probe's sampled
    per-parameter norms); stdout is still exactly one JSON object."""
    import json
    import sys

    from traintriage.evals import default_cases_dir

    out = tmp_path / "r.html"
    script = default_cases_dir() / "double-softmax-mlp" / "train.py"
    p = subprocess.run([sys.executable, "-m", "traintriage", "triage", str(script), "--report", str(out), "--json"],
                       capture_output=True, text=True, timeout=300)
    rep = json.loads(p.stdout)
    assert p.returncode == 1 and rep["findings"][0]["id"] == "double-softmax"
    page = out.read_text()
    assert "double-softmax" in page and "Handbook:" in page
    for fig in ("loss", "norms", "lr", "rel_update", "module_grad", "module_update"):
        assert f'data-figure="{fig}"' in page, fig
    assert rep["metrics"]["module_steps"][0] == 0 and rep["metrics"]["module_grad_norm_steps"]
