"""Dynamics detectors: what drove a NaN (causal precedence), lr-too-high as a regime not a transient,
exploding gradients contained by clipping, a module that sets the global clip, a ReLU-clamped output.

Fast tests build the evidence by hand; slow ones run real scripts (written here, or the seeded eval cases)
in a child process, each bug against its fixed twin.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scriptfiles import write_script
from traintriage.probe import run_probe
from traintriage.probe.detectors import (
    dead_relu,
    exploding_gradients,
    lr_too_high,
    module_gradient_outlier,
    non_finite_loss,
    run_detectors,
)
from traintriage.probe.detectors._common import first_nonfinite_step, instability_before
from traintriage.probe.evidence import overfit_summary
from traintriage.report import sort_findings

CASES = Path(__file__).resolve().parents[1] / "evals" / "cases"


def _step(i, loss, rel=1e-3, gn=1.0, applied=None, params=None):
    s = {"opt": 0, "step": i, "loss": loss, "n_backward": 1, "grad_norm": gn,
         "grad_norm_at_step": gn if applied is None else applied, "rel_update": rel,
         "groups": [{"lr": 1e-2, "update": rel, "param": 1.0, "rel_update": rel}]}
    if params is not None:
        s["params"] = params
    return s


def _ev(steps, pinned=True, loss_calls=()):
    ev = {"mode": "overfit", "pinned": pinned, "steps": steps, "losses": [s["loss"] for s in steps],
          "loss_calls": list(loss_calls), "acts": []}
    ev["overfit"] = overfit_summary(ev)
    return ev


def _ids(findings, severity=("error", "warning")):
    return [f.id for f in sort_findings(findings) if f.severity in severity]


def _errors(rep):
    return [f.id for f in rep.findings if f.severity == "error"]


# ------------------------------------------------------------------ causal precedence for NaN
def _calm_then_nan():
    """Loss falling smoothly with small steps (after one big Adam-style first step), then NaN: log(0)."""
    steps = [_step(0, 2.3, rel=0.2, gn=3.8)] + [_step(i, 2.3 * 0.5**i, rel=0.02, gn=3.8 * 0.6**i) for i in range(1, 28)]
    steps += [_step(i, None, rel=None, gn=None) for i in range(28, 40)]
    return _ev(steps)


def _spike_then_nan():
    steps = [_step(0, 2.0, rel=0.3, gn=2.0), _step(1, 9.0, rel=0.9, gn=200.0), _step(2, 4e4, rel=1.0, gn=1e5)]
    steps += [_step(i, None, rel=None, gn=None) for i in range(3, 20)]
    return _ev(steps)


def test_nan_after_calm_steps_is_the_operation_not_the_lr():
    ev = _calm_then_nan()
    assert first_nonfinite_step(ev) == 28
    before = instability_before(ev, 28)
    assert before["unstable"] is False and before["max_rel_update"] < lr_too_high.REL_UPDATE_PEAK
    nf = non_finite_loss.detect(ev)
    assert nf[0].confidence == non_finite_loss.CONF_OPERATION and nf[0].evidence["after_instability"] is False
    assert lr_too_high.detect(ev) == []  # the 0.2 first step did not lead into the NaN
    assert exploding_gradients.detect(ev) == []  # a NaN gradient without growth is not an explosion
    findings, notes = run_detectors(ev)
    assert not notes and _ids(findings)[0] == "non-finite-loss"


def test_nan_after_a_spike_is_charged_to_the_instability():
    ev = _spike_then_nan()
    before = instability_before(ev, first_nonfinite_step(ev))
    assert before["unstable"] is True and before["loss_over_start"] >= lr_too_high.LOSS_SPIKE
    assert non_finite_loss.detect(ev)[0].confidence == non_finite_loss.CONF_AFTER_INSTABILITY
    lr = lr_too_high.detect(ev)
    assert lr and lr[0].severity == "error" and lr[0].evidence["nonfinite"] is True
    assert _ids(run_detectors(ev)[0])[0] == "lr-too-high"


def test_nan_at_step_zero_has_no_window():
    ev = _ev([_step(0, None, rel=None, gn=None), _step(1, None, rel=None, gn=None)])
    assert instability_before(ev, 0)["unstable"] is False
    assert non_finite_loss.detect(ev)[0].confidence == non_finite_loss.CONF_OPERATION


# ------------------------------------------------------------------ lr-too-high: transient vs regime
def _spike_curve(late_spike=False, jump=4.0):
    ls = [1.0, 1.5, jump, 2.0, 0.9] + [0.8 * 0.8**i for i in range(35)]
    if late_spike:
        ls[30] = 5.0
    rel = [0.05, 0.2, 0.3, 0.2] + [0.02] * 36
    return _ev([_step(i, x, rel=r) for i, (x, r) in enumerate(zip(ls, rel, strict=True))])


def test_a_spike_that_settles_is_a_warning():
    f = lr_too_high.detect(_spike_curve())
    assert f and f[0].severity == "warning" and f[0].evidence["settled"] is True
    assert f[0].evidence["peak_rel_update"] == pytest.approx(0.3)


def test_a_spike_that_comes_back_or_blows_up_is_an_error():
    late = lr_too_high.detect(_spike_curve(late_spike=True))
    assert late[0].severity == "error" and late[0].evidence["late_loss_over_start"] >= lr_too_high.LOSS_SPIKE
    blow = lr_too_high.detect(_spike_curve(jump=500.0))
    assert blow[0].severity == "error" and blow[0].evidence["loss_spike"] >= lr_too_high.LOSS_BLOWUP
    # the loss never comes down: the overfit check fails
    flat = _ev([_step(i, x, rel=0.3) for i, x in enumerate([1.0, 3.0] + [1.2] * 20)])
    assert lr_too_high.detect(flat)[0].severity == "error"


# ------------------------------------------------------------------ exploding gradients and clipping
def _rnn_like(clipped):
    gns = [5e3, 2e5, 9e4, 3e4] + [200.0] * 20
    ls = [5.0, 700.0, 300.0, 60.0] + [0.6] * 20
    return _ev([_step(i, x, rel=0.002, gn=g, applied=1.0 if clipped else g) for i, (x, g) in enumerate(zip(ls, gns, strict=True))])


def test_clipping_that_contains_the_explosion_makes_it_a_warning():
    f = exploding_gradients.detect(_rnn_like(clipped=True))
    assert f[0].severity == "warning" and f[0].evidence["contained_by_clipping"] is True
    unclipped = exploding_gradients.detect(_rnn_like(clipped=False))
    assert unclipped[0].severity == "error" and unclipped[0].evidence["contained_by_clipping"] is False


def test_norm_huge_at_init_ranks_ahead_of_the_nan_it_causes():
    ev = _ev([_step(0, 5.0, rel=0.98, gn=4.7e3)] + [_step(i, None, rel=None, gn=None) for i in range(1, 10)])
    ex = exploding_gradients.detect(ev)
    assert ex[0].evidence["at_init"] is True and ex[0].evidence["lr_driven"] is False
    assert _ids(run_detectors(ev)[0])[:2] == ["exploding-gradients", "non-finite-loss"]


def test_norm_grown_by_large_steps_defers_to_lr():
    gns = [1.7, 5e3, 8e3, 7e3] + [1.0] * 20
    ev = _ev([_step(i, 2.0 if i == 0 else 50.0, rel=0.9 if i == 0 else 0.3, gn=g) for i, g in enumerate(gns)])
    ex = exploding_gradients.detect(ev)
    assert ex[0].evidence["lr_driven"] is True and ex[0].confidence < lr_too_high.detect(ev)[0].confidence


# ------------------------------------------------------------------ module-gradient-outlier per module
def _rows(front, head=0.5):
    mods = {"scale": 0.6, "frontend.weight": front, "enc.0.attn.weight": 1.0, "enc.0.ff.weight": 0.8,
            "enc.1.attn.weight": 0.9, "enc.1.ff.weight": 0.7, "enc.0.norm.weight": 0.1, "head.weight": head}
    return [{"name": n, "grad": g, "param": 5.0, "update": 0.01, "requires_grad": True, "dim": 2, "numel": 100}
            for n, g in mods.items()]


def _outlier_ev(front, clipped):
    def s(i, f):
        gn = (sum(r["grad"] ** 2 for r in _rows(f))) ** 0.5
        return _step(i, 1.4 - 0.01 * i, gn=gn, applied=1.0 if clipped else gn, params=_rows(f))
    return _ev([s(0, front), s(1, front)] + [_step(i, 1.4 - 0.01 * i) for i in range(2, 19)] + [s(19, front)])


def test_module_that_sets_the_global_clip_is_an_error():
    f = module_gradient_outlier.detect(_outlier_ev(15.0, clipped=True))
    assert f and f[0].severity == "error" and f[0].evidence["module"] == "frontend"
    assert f[0].evidence["factor"] >= module_gradient_outlier.MODULE_FACTOR
    assert f[0].evidence["share"] >= module_gradient_outlier.MODULE_SHARE and f[0].evidence["clipping_active"]
    unclipped = module_gradient_outlier.detect(_outlier_ev(15.0, clipped=False))
    assert unclipped[0].severity == "warning"
    assert module_gradient_outlier.detect(_outlier_ev(2.0, clipped=True)) == []  # an ordinary first layer


def test_zero_initialised_offset_is_not_a_tensor_outlier():
    rows = [{"name": f"l{i}.weight", "grad": 1.0, "param": 5.0, "update": 0.01, "requires_grad": True}
            for i in range(5)] + [{"name": "offset", "grad": 0.5, "param": 0.005, "update": 0.005,
                                   "requires_grad": True}]
    ev = _ev([_step(0, 1.0, params=rows)] + [_step(i, 1.0 - 0.01 * i) for i in range(1, 10)])
    assert module_gradient_outlier.detect(ev) == []


# ------------------------------------------------------------------ dead-relu at the output
def _clamp_call(step, stuck, neg, pred_min=0.0):
    return {"fn": "mse_loss", "step": step, "input_min": pred_min, "input_zero_frac": stuck,
            "zero_pred_nonzero_target_frac": stuck, "target_neg_frac": neg}


def test_output_clamped_at_zero():
    flat = [_step(i, 1.0 - 0.01 * i) for i in range(20)]
    bug = dead_relu.detect(_ev(flat, loss_calls=[_clamp_call(0, 0.5, 0.5), _clamp_call(19, 0.4, 0.5)]))
    assert bug[0].severity == "error" and bug[0].evidence["output_stuck_frac"] == 0.4
    positive = dead_relu.detect(_ev(flat, loss_calls=[_clamp_call(0, 0.5, 0.0), _clamp_call(19, 0.3, 0.0)]))
    assert positive[0].severity == "warning"
    assert dead_relu.detect(_ev(flat, loss_calls=[_clamp_call(0, 0.5, 0.5), _clamp_call(19, 0.0, 0.5, 0.2)])) == []
    assert dead_relu.detect(_ev(flat, loss_calls=[_clamp_call(0, 0.5, 0.5)])) == []  # init only
    unclamped = _clamp_call(19, 0.4, 0.5, pred_min=-1.0)
    assert dead_relu.detect(_ev(flat, loss_calls=[unclamped])) == []


# ------------------------------------------------------------------ real scripts
_write = write_script


RELU_OUT = """
import sys
import torch
import torch.nn as nn

final_relu = "--no-final-relu" not in sys.argv
positive = "--positive" in sys.argv
torch.manual_seed(0)
X = torch.randn(2048, 6)
y = X[:, 0] - 0.5 * X[:, 1] + 0.2 * X[:, 2] * X[:, 3]
y = (y - y.mean()) / y.std()  # standardised: half the targets are negative
if positive:
    y = nn.functional.softplus(2 * y)  # a positive quantity: a ReLU output can fit it
layers = [nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1)] + ([nn.ReLU()] if final_relu else [])
model = nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(300):
    idx = torch.randint(0, len(X), (64,))
    loss = nn.functional.mse_loss(model(X[idx]).squeeze(1), y[idx])
    opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
def test_relu_on_a_regression_output_is_dead_relu(tmp_path):
    p = _write(tmp_path, "relu_out.py", RELU_OUT)
    rep = run_probe(p, steps=20)
    assert rep.top_ids(1) == ["dead-relu"], [(f.id, f.severity, f.evidence) for f in rep.findings]
    ev = rep.findings[0].evidence
    assert ev["output_stuck_frac"] >= dead_relu.OUTPUT_STUCK_FRACTION and ev["target_neg_frac"] > 0.3
    fixed = run_probe(p, steps=20, args=["--no-final-relu"])
    assert _errors(fixed) == [] and "dead-relu" not in fixed.top_ids(3)
    positive = run_probe(p, steps=20, args=["--positive"])  # a ReLU output on positive targets lets go of 0
    assert "dead-relu" not in positive.top_ids(3), [(f.id, f.evidence) for f in positive.findings]


@pytest.mark.slow
def test_seeded_output_relu_case():
    rep = run_probe(CASES / "dead-relu-output-layer" / "train.py", steps=40)
    assert rep.top_ids(1) == ["dead-relu"] and rep.findings[0].severity == "error"
    fixed = run_probe(CASES / "dead-relu-output-layer" / "fixed.py", steps=40)
    assert _errors(fixed) == []


MANUAL_BCE = """
import sys
import torch
import torch.nn as nn

stable = "--stable" in sys.argv
torch.manual_seed(0)
y = (torch.rand(512) < 0.5).float()
w = torch.nn.functional.normalize(torch.randn(16), dim=0)
x = torch.randn(512, 16) + 6.0 * (2 * y[:, None] - 1) * w  # well separated: the model gets confident fast
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(200):
    z = model(x).squeeze(1)
    if stable:
        loss = nn.functional.binary_cross_entropy_with_logits(z, y)
    else:
        p = torch.sigmoid(z)  # saturates to exactly 1.0 in float32: log(1 - p) = -inf, 0 * -inf = NaN
        loss = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


@pytest.mark.slow
def test_log_of_a_saturated_sigmoid_is_non_finite_loss_first(tmp_path):
    p = _write(tmp_path, "manual_bce.py", MANUAL_BCE)
    rep = run_probe(p, steps=40)
    assert rep.top_ids(1) == ["non-finite-loss"], [(f.id, f.severity, f.confidence) for f in rep.findings]
    assert rep.findings[0].evidence["after_instability"] is False
    assert "lr-too-high" not in rep.top_ids(3)
    fixed = run_probe(p, steps=40, args=["--stable"])
    assert _errors(fixed) == [], [(f.id, f.evidence) for f in fixed.findings]


@pytest.mark.slow
def test_seeded_manual_log_softmax_case():
    rep = run_probe(CASES / "non-finite-loss-manual-log-softmax" / "train.py", steps=40)
    assert rep.top_ids(1) == ["non-finite-loss"], [(f.id, f.severity, f.confidence) for f in rep.findings]
    assert _errors(run_probe(CASES / "non-finite-loss-manual-log-softmax" / "fixed.py", steps=40)) == []


IRNN = """
import sys
import torch
import torch.nn as nn

clip = "--clip" in sys.argv
torch.manual_seed(0)
cell = nn.RNNCell(2, 48, nonlinearity="relu")
with torch.no_grad():
    cell.weight_hh.copy_(1.06 * torch.eye(48))  # recurrence just above identity: the product over 70 steps blows up
readout = nn.Linear(48, 1)
params = list(cell.parameters()) + list(readout.parameters())
opt = torch.optim.SGD(params, lr=1e-2, momentum=0.9)
for it in range(300):
    x = torch.randn(32, 70, 2)
    target = x[..., 0].cumsum(1)[:, -1] * 0.1
    h = torch.zeros(32, 48)
    for t in range(x.shape[1]):
        h = cell(x[:, t], h)
    loss = nn.functional.mse_loss(readout(h).squeeze(1), target)
    opt.zero_grad()
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
"""


@pytest.mark.slow
def test_irnn_explodes_and_clipping_contains_it(tmp_path):
    p = _write(tmp_path, "irnn.py", IRNN)
    rep = run_probe(p, steps=40)
    assert rep.top_ids(1) == ["exploding-gradients"], [(f.id, f.severity, f.confidence) for f in rep.findings]
    assert rep.findings[0].evidence["at_init"] is True
    fixed = run_probe(p, steps=40, args=["--clip"])
    assert _errors(fixed) == [], [(f.id, f.evidence) for f in fixed.findings]
    ex = [f for f in fixed.findings if f.id == "exploding-gradients"]
    assert ex and ex[0].severity == "warning" and ex[0].evidence["contained_by_clipping"] is True


@pytest.mark.slow
@pytest.mark.parametrize("case", ["grad-accum-not-scaled-sgd", "wrong-train-eval-mode-never-back-to-train"])
def test_early_spike_that_settles_is_no_lr_error(case):
    """Both fixed scripts spike 3-6x in the first steps on the replayed batch, then fit it (ratio < 0.02)."""
    fixed = run_probe(CASES / case / "fixed.py", steps=40)
    assert "lr-too-high" not in _errors(fixed), [(f.id, f.severity, f.evidence) for f in fixed.findings]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lr-too-high-adam", "lr-too-high-sgd-cnn"])
def test_lr_too_high_cases_stay_errors(case):
    rep = run_probe(CASES / case / "train.py", steps=40)
    assert rep.top_ids(1) == ["lr-too-high"] and rep.findings[0].severity == "error"
    assert _errors(run_probe(CASES / case / "fixed.py", steps=40)) == []


@pytest.mark.slow
def test_seeded_mel_scale_case_sets_the_clip():
    rep = run_probe(CASES / "module-gradient-outlier-mel-scale" / "train.py", steps=40)
    assert rep.top_ids(1) == ["module-gradient-outlier"], [(f.id, f.severity, f.evidence) for f in rep.findings]
    ev = rep.findings[0].evidence
    assert rep.findings[0].severity == "error" and ev["clipping_active"] and ev["module"] == "frontend"
    fixed = run_probe(CASES / "module-gradient-outlier-mel-scale" / "fixed.py", steps=40)
    assert _errors(fixed) == [] and "module-gradient-outlier" not in fixed.top_ids(3)
