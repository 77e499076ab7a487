"""traintriage grads without markers: the loss's terms found in its autograd graph (probe/term_graph.py), named
by source (probe/term_trace.py), on real subprocess runs of scripts with the bug, their fix and look-alikes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from traintriage.probe.grads import grads_script
from traintriage.probe.term_graph import split_loss

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "evals" / "cases"


def test_split_follows_sums_weights_stacks_and_transforms() -> None:
    w = torch.randn(3, requires_grad=True)
    main = (w - 1).abs().mean()
    aux = (w ** 2).sum()
    loss = torch.log1p(main + 50 * aux - aux / 4 + 2.0)
    sp = split_loss(loss)
    assert [type(p.core).__name__ for p in sp.parts] == ["MeanBackward0", "SumBackward0", "SumBackward0"]
    assert [t.op for t in sp.transforms] == ["log1p"] and all(p.transforms == [0] for p in sp.parts)
    stacked = torch.stack([w[0] ** 2, w[1] ** 2, w[2].abs()]).mean()
    assert [type(p.core).__name__ for p in split_loss(stacked).parts] == ["PowBackward0", "PowBackward0",
                                                                          "AbsBackward0"]
    looped = sum(w[i] * w[i] for i in range(3))  # a Python loop sum starts at 0 + first term
    assert len(split_loss(looped).parts) == 3
    # a product of two trained tensors is one term, not a weight
    assert len(split_loss((w[0] * w[1]) + w[2]).parts) == 2


# Runs as plain Python; under the term tracer it crashed twice on real scripts: nn.Embedding(padding_idx=...)
# zeroes a no_grad view of its weight in place at construction (reading that view's grad_fn raises), and
# `loss.data.numpy()` is a torch call whose result is an ndarray (no is_floating_point).
_TRACER_HOSTILE = """
import torch, torch.nn as nn
torch.manual_seed(0)
model = nn.Sequential(nn.Embedding(20, 8, padding_idx=0), nn.Flatten(), nn.Linear(32, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randint(0, 20, (64, 4)), torch.randint(0, 2, (64,))
for step in range(8):
    loss = nn.functional.cross_entropy(model(x), y) + 1e-4 * model[2].weight.pow(2).sum()
    opt.zero_grad(); loss.backward(); opt.step()
    print(step, loss.data.numpy())
"""


@pytest.mark.slow
def test_tracer_never_crashes_a_script_that_runs_plain(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(_TRACER_HOSTILE)
    rep = grads_script(script, steps=8, timeout=120)
    assert rep.verdict != "crashed", rep.notes
    assert len(rep.metrics["terms_found"]) == 2  # the cross-entropy and the hand-written penalty


@pytest.mark.slow
def test_no_loss_call_no_marker_gets_a_reading_not_a_traceback() -> None:
    """The issue's log1p regression: no standard loss call, no marker. Saturated: named by its expression and
    its transform; the standardized fix has no finding."""
    case = CASES / "metric-loss-saturated-log1p-handwritten-mse"
    rep = grads_script(case / "train.py", steps=12, timeout=120)
    sat = [f for f in rep.findings if f.id == "loss-saturated"]
    assert sat and sat[0].severity == "error", [(f.id, f.message) for f in rep.findings]
    assert "((pred - y[idx]) ** 2).mean()" in sat[0].message and "log1p" in sat[0].message
    tr = rep.metrics["transforms"][0]
    assert tr["op"] == "log1p" and tr["whole_loss"] and tr["slope"] < 1e-6 and tr["inner_value"] > 1e9
    assert rep.metrics["terms_found"][0]["where"] == "train.py:12"
    fixed = grads_script(case / "fixed.py", steps=12, timeout=120)
    assert not fixed.findings and fixed.verdict == "healthy", [(f.id, f.message) for f in fixed.findings]
    assert fixed.metrics["transforms"][0]["slope"] > 0.01


@pytest.mark.slow
def test_handwritten_aux_fight_found_and_ablated_by_expression_and_id() -> None:
    """`main - 5 * entropy`: both terms named without a marker; the fight is found and named (a warning: the
    loss still falls, so the sum does not cancel, and an entropy bonus is sometimes intended); --ablate takes the
    discovered term's expression or its id and really removes its contribution in the second run."""
    case = CASES / "metric-competing-losses-entropy-bonus"
    rep = grads_script(case / "train.py", steps=40, timeout=180)
    names = {t["name"]: t for t in rep.metrics["terms_found"]}
    assert set(names) == {"cross_entropy", "5 * entropy"} and names["5 * entropy"]["where"] == "train.py:18"
    comp = [f for f in rep.findings if f.id == "competing-losses"]
    assert comp and comp[0].severity == "warning" and "5 * entropy" in comp[0].message
    assert comp[0].evidence["loss_end"] < comp[0].evidence["loss_start"]  # the sum still falls: no cancellation
    dec = rep.metrics["decomposition"][0]
    assert dec["parts_residual"] < 1e-4  # the two terms are the whole loss
    by = {t["name"]: t for t in dec["terms"]}
    assert by["5 * entropy"]["dloss_dterm"] == pytest.approx(-5.0)
    ab = grads_script(case / "train.py", steps=40, timeout=180, ablate="t2", metric="cross_entropy")
    a = ab.metrics["ablation"]
    assert a["term"] == "5 * entropy" and a["ablated"] and a["on"] is not None and a["off"] is not None
    assert a["off"] < a["on"]  # without the bonus the cross-entropy falls further
    ab2 = grads_script(case / "train.py", steps=6, timeout=180, ablate="5 * entropy")
    assert ab2.metrics["ablation"]["ablated"] and ab2.metrics["ablation"]["init"] is not None
    fixed = grads_script(case / "fixed.py", steps=40, timeout=180)
    assert not [f for f in fixed.findings if f.severity == "error"], [(f.id, f.message) for f in fixed.findings]


@pytest.mark.slow
def test_unexplained_loss_is_said_and_not_called_healthy(tmp_path: Path) -> None:
    """A loss made inside a module's forward has no source in the loop: the term found there (a small penalty)
    explains little of the gradient, and the run is not cleared on that basis."""
    p = tmp_path / "train.py"
    p.write_text(textwrap.dedent("""
        import torch
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Linear(4, 1)

            def forward(self, x, y):
                return ((self.net(x) - y) ** 2).mean()

        torch.manual_seed(0)
        m = Model()
        x, y = torch.randn(64, 4), torch.randn(64, 1)
        opt = torch.optim.SGD(m.parameters(), lr=0.05)
        for _ in range(30):
            loss = m(x, y) + 1e-3 * m.net.weight.abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    """))
    rep = grads_script(p, steps=8, timeout=120)
    assert rep.verdict != "healthy"
    assert any("explain only" in n for n in rep.notes), rep.notes


@pytest.mark.slow
def test_dcgan_discriminator_halves_are_not_competing_losses() -> None:
    """A real DCGAN: D's real and fake halves (opposite constant targets) cancel by design at equilibrium."""
    from traintriage.triage import triage_script

    rep = triage_script(ROOT / "evals" / "real" / "pytorchgan-dcgan" / "train.py", steps=40, timeout=300)
    assert "competing-losses" not in {f.id for f in rep.findings}, [(f.id, f.message) for f in rep.findings]


@pytest.mark.slow
def test_contrastive_term_added_without_gradient_is_named() -> None:
    """`ce + 0.5 * nce` with the views embedded under no_grad: the graph has no node for the term, the tracer
    saw the no-gradient scalar enter the addition; the fix (views with grad) makes it a real term."""
    case = CASES / "metric-loss-saturated-detached-contrastive"
    rep = grads_script(case / "train.py", steps=6, timeout=120)
    det = [f for f in rep.findings if f.id == "loss-saturated" and f.evidence.get("disconnected")]
    assert det and det[0].severity == "error" and det[0].evidence["expr"] == "0.5 * nce", rep.findings
    assert det[0].evidence["where"] == "train.py:21"
    fixed = grads_script(case / "fixed.py", steps=6, timeout=120)
    assert not fixed.metrics["detached_terms"] and not fixed.findings, fixed.findings
    assert "0.5 * nce" in {t["name"] for t in fixed.metrics["terms_found"]}
