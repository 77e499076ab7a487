"""Immediate feedback (issue 15): the first progress line names the phase before the child has imported torch,
then the first forward pass, then the steps."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from traintriage.probe.runner import run_child

SCRIPT = """\
import torch
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 4), torch.randn(64, 1)
for _ in range(20):
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
print("final loss", torch.nn.functional.mse_loss(model(x), y).item())
"""

# A person waiting for a tool needs a sign of life within a second (issue 15, deliverable 6).
FIRST_LINE_S = 1.0


@pytest.mark.slow
def test_first_progress_line_comes_at_once_and_names_the_phase(tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    seen: list[tuple[float, int, str]] = []
    t0 = time.perf_counter()
    raw = run_child(script, steps=5, timeout=120, on_progress=lambda d, t, m: seen.append((time.perf_counter() - t0, d, m)))
    assert raw["status"] == "exited"
    assert seen[0][0] < FIRST_LINE_S and seen[0][1] == 0 and "starting the script" in seen[0][2]
    msgs = [m for _, _, m in seen]
    assert any("first forward pass" in m for m in msgs)
    assert msgs[-1].startswith("step 5/5")
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)  # never goes backwards
