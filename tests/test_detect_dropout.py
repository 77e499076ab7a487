"""dropout-too-high, measured on real runs: stacked dropout 0.75 (the bug), the same network at 0.3 (the fix: not
even measured), one 0.6 dropout on a wide layer (a look-alike above the usual 0.5 that the layer absorbs), and the
measurement's extra forwards leave the script's own randomness and losses untouched."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from traintriage.probe.detectors import dropout_too_high as d

SCRIPT = """
import torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
x = torch.randn(128, 16)
y = (x[:, :4].sum(1) > 0).long() + 2 * (x[:, 4:8].sum(1) > 0).long()
model = nn.Sequential({layers})
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(30):
    loss = F.cross_entropy(model(x), y)
    print("loss", repr(loss.item()), flush=True)
    opt.zero_grad(); loss.backward(); opt.step()
"""
STACKED = ("nn.Dropout({h}), nn.Linear(16, 64), nn.ReLU(), nn.Dropout({p}), nn.Linear(64, 64), nn.ReLU(), "
           "nn.Dropout({p}), nn.Linear(64, 4)")
WIDE = "nn.Linear(16, 512), nn.ReLU(), nn.Dropout(0.6), nn.Linear(512, 4)"
FUNCTIONAL = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(16, 64), nn.Linear(64, 64), nn.Linear(64, 4)
    def forward(self, x):
        h = F.dropout(F.relu(self.a(x)), 0.75, self.training)
        q = h[:, None, :]  # one-token attention over itself, with attention dropout
        h = F.scaled_dot_product_attention(q, q, q, dropout_p=0.75 if self.training else 0.0)[:, 0]
        return self.c(F.dropout(F.relu(self.b(h)), p=0.75, training=self.training))
"""
CASES = {
    "p075": STACKED.format(p=0.75, h=0.375),
    "functional075": "*[Net()]",
    "p030": STACKED.format(p=0.3, h=0.15),
    "wide060": WIDE,
}


def _probe(tmp_path, name, mode="overfit"):
    from traintriage.probe.runner import probe_with_records

    s = tmp_path / "train.py"
    src = textwrap.dedent(SCRIPT.format(layers=CASES[name]))
    s.write_text(src.replace("model = ", FUNCTIONAL + "model = ", 1) if name.startswith("functional") else src)
    rep, records = probe_with_records(s, mode=mode, steps=12, timeout=120)
    return rep, [r for r in records if r.get("kind") == "dropgap"]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "measured", "severity"),
                         [("p075", True, "error"), ("p030", False, None), ("wide060", True, None)])
def test_dropout_gap_on_real_runs(tmp_path, name, measured, severity):
    rep, recs = _probe(tmp_path, name)
    assert bool(recs) is measured  # p <= 0.5 everywhere: no extra forward at all
    if measured:
        assert recs[0]["step"] == 0 and len(recs) >= 3 and all("clean" in r for r in recs)
        assert recs[-1]["clean"] < 0.8 * recs[0]["clean"]  # the model learned its batch (dropout off)
    found = [f for f in rep.findings if f.id == "dropout-too-high"]
    assert [f.severity for f in found] == ([severity] if severity else [])
    if severity:
        assert found[0].evidence["p_max"] == 0.75 and found[0].evidence["kept_max"] < d.ERROR_KEPT


@pytest.mark.slow
def test_functional_and_attention_dropout_are_seen_and_switched_off(tmp_path):
    """F.dropout and scaled_dot_product_attention's dropout_p are read and turned off for the clean loss. The overfit
    run cannot switch functional dropout off, so this model trains with p = 0.75 and barely learns in the probe's
    window: no decrease to erase, no finding (the limit of a gap reading; the plain run shows the harm)."""
    rep, recs = _probe(tmp_path, "functional075")
    assert len(recs) >= 3 and all("clean" in r for r in recs)  # the replay, with its own dropout draws, matched
    assert {r["calls"] for r in recs} == {3} and recs[0]["p_max"] == 0.75  # two F.dropout calls, one attention
    assert all(r["noisy"] > r["clean"] for r in recs)  # switching them off is what lowers the loss
    assert recs[-1]["clean"] > 0.8 * recs[0]["clean"] and "dropout-too-high" not in {f.id for f in rep.findings}


@pytest.mark.slow
def test_the_measurement_leaves_the_run_unchanged(tmp_path):
    s = tmp_path / "plain.py"
    s.write_text(textwrap.dedent(SCRIPT.format(layers=CASES["p075"])))
    plain = subprocess.run([sys.executable, str(s)], capture_output=True, text=True, timeout=120).stdout
    rep, recs = _probe(tmp_path, "p075", mode="observe")  # observe: the script's dropout draws are its own
    assert len(recs) >= 3 and all("clean" in r for r in recs)  # the replay of its forward matched each time
    probed = [ln for ln in rep.stdout_tail.splitlines() if ln.startswith("loss ")]
    assert len(probed) >= 10 and probed == plain.splitlines()[:len(probed)]


def _ev(*recs):
    return {"records": {"dropgap": [dict(r, p_max=0.75, calls=3) for r in recs]}}


def test_judging_needs_a_model_that_learned_and_a_gap_that_erases_it():
    start = {"step": 0, "clean": 1.4, "noisy": 1.45}
    # a model at init (or one that did not learn): no gap to read
    assert d.detect(_ev(start, {"step": 6, "clean": 1.3, "noisy": 1.4})) == []
    # learned, and dropout keeps most of it: fine whatever p is
    assert d.detect(_ev(start, {"step": 6, "clean": 0.4, "noisy": 0.5})) == []
    # learned, dropout keeps 40 %: a warning; keeps nothing: an error
    assert [f.severity for f in d.detect(_ev(start, {"step": 6, "clean": 0.4, "noisy": 1.0}))] == ["warning"]
    bad = d.detect(_ev(start, {"step": 6, "clean": 0.4, "noisy": 1.5}))
    assert [f.severity for f in bad] == ["error"] and "none of the decrease survives" in bad[0].message
    # no first measurement (the step-0 forward was not the loss's input): nothing to compare with
    assert d.detect(_ev({"step": 6, "clean": 0.4, "noisy": 1.5}, {"step": 7, "clean": 0.3, "noisy": 1.5})) == []
