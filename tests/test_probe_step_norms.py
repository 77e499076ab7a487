"""The step record's gradient norms after the per-step work was made lighter (issue 15): the norm the optimizer
saw (grad_norm_at_step) is taken from the backward's measurement only when the gradients are untouched since;
clipping, GradScaler's unscale_ and in-place scaling between backward() and step() are still seen."""

from __future__ import annotations

import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import torch, torch.nn as nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    for step in range(6):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        if MODE == "scaler":
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            continue
        loss.backward()
        if MODE == "clip":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        elif MODE == "scale":
            for p in model.parameters():
                p.grad.mul_(0.5)
        opt.step()
""")


def _steps(tmp_path, mode: str) -> list[dict]:
    from traintriage.probe.runner import probe_with_records

    s = tmp_path / f"{mode}.py"
    s.write_text(f"MODE = {mode!r}\n" + SCRIPT)
    _, records = probe_with_records(s, mode="observe", steps=6, timeout=120)
    steps = [r for r in records if r.get("kind") == "step"]
    assert len(steps) == 6, records[-3:]
    return steps


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["plain", "clip", "scale", "scaler"])
def test_grad_norm_at_step_follows_what_happened_after_backward(tmp_path, mode):
    for s in _steps(tmp_path, mode):
        before, seen = s["grad_norm"], s["grad_norm_at_step"]
        assert before > 0 and seen > 0
        if mode == "plain":
            assert seen == before  # untouched: the same measurement
        elif mode == "clip":
            assert seen == pytest.approx(1e-3, rel=1e-3) and before > 10 * seen
        elif mode == "scale":
            assert seen == pytest.approx(before / 2, rel=1e-5)
        else:  # GradScaler: backward saw the scaled gradients, the step the unscaled ones
            assert before == pytest.approx(1024 * seen, rel=1e-4)
