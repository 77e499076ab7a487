"""spectral-norm-uninitialized, measured on real runs: an EMA teacher that keeps spectral norm's random u, v
(the bug), the same teacher refreshed with the student's iterated u, v (the fix), and a healthy look-alike
(spectral norm through the parametrization API, which iterates when it wraps the layer)."""

from __future__ import annotations

import textwrap

import pytest
from traintriage.probe.detectors import spectral_norm_uninitialized as det

HEAD = """
import copy
import torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
SN = {sn}
def mlp():
    return nn.Sequential(SN(nn.Linear(16, 64)), nn.ReLU(), SN(nn.Linear(64, 1)))
student = mlp()
teacher = copy.deepcopy(student).eval()
for p in teacher.parameters():
    p.requires_grad_(False)
opt = torch.optim.Adam(student.parameters(), lr=1e-3)
x, y = torch.randn(64, 16), torch.randn(64, 1)
for step in range(8):
    student.train()
    with torch.no_grad():
        t = teacher(x)
    loss = F.mse_loss(student(x), y) + 0.1 * F.mse_loss(student(x), t)
    opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        for a, b in zip(teacher.parameters(), student.parameters()):
            a.mul_(0.99).add_(b, alpha=0.01)
{extra}
"""
COPY_BUFFERS = """        for a, b in zip(teacher.buffers(), student.buffers()):
            a.copy_(b)"""


def _probe(tmp_path, sn, extra=""):
    from traintriage.probe.runner import probe_with_records

    s = tmp_path / "train.py"
    s.write_text(textwrap.dedent(HEAD.format(sn=sn, extra=extra)))
    rep, records = probe_with_records(s, mode="observe", steps=6, timeout=120)
    return rep, [r for r in records if r.get("kind") == "specnorm"]


@pytest.mark.slow
def test_fires_on_a_teacher_that_never_iterates(tmp_path):
    rep, recs = _probe(tmp_path, "nn.utils.spectral_norm")
    assert recs and all(r["train_forwards"] == 0 for r in recs)
    assert max(r["ratio"] for r in recs) >= det.SIGMA_RATIO
    f = [f for f in rep.findings if f.id == "spectral-norm-uninitialized"]
    assert f and f[0].evidence["max_ratio"] >= det.SIGMA_RATIO


@pytest.mark.slow
def test_quiet_when_the_teacher_copies_the_iterated_vectors(tmp_path):
    rep, recs = _probe(tmp_path, "nn.utils.spectral_norm", COPY_BUFFERS)
    assert recs and recs[-1]["ratio"] < det.SIGMA_RATIO  # wrong at the first forward only, then refreshed
    assert "spectral-norm-uninitialized" not in {f.id for f in rep.findings}


@pytest.mark.slow
def test_quiet_on_the_parametrization_api(tmp_path):
    rep, recs = _probe(tmp_path, "nn.utils.parametrizations.spectral_norm")
    assert recs and all(r["ratio"] < det.SIGMA_RATIO for r in recs)  # measured, and close to sigma
    assert "spectral-norm-uninitialized" not in {f.id for f in rep.findings}


def test_a_layer_wrong_once_then_refreshed_is_not_a_finding():
    def rec(step, ratio, tf=0):
        return {"kind": "specnorm", "layer": "0", "n": 0, "step": step, "estimate": 1.0 / ratio, "sigma": 1.0,
                "ratio": ratio, "train_forwards": tf, "measured": step + 1}

    assert det.detect({"records": {"specnorm": [rec(0, 20.0), rec(1, 1.01), rec(2, 1.0)]}}) == []
    assert det.detect({"records": {"specnorm": [rec(0, 20.0)]}}) == []  # one look is not enough
    assert det.detect({"records": {"specnorm": [rec(0, 20.0), rec(1, 19.0)]}})
    assert det.detect({"records": {"specnorm": [rec(0, 20.0, tf=3), rec(1, 19.0, tf=4)]}}) == []
