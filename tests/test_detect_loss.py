"""Loss-family detectors that read what the harness measures at run time, and the lint rule beside them:

- wrong-loss-formula: how the loss responds to the model's output (d(loss)/d(output) per sample and one
  Hessian-vector product): a loss of the batch-mean error couples every sample; a norm of each sample's error
  gives every sample a unit-length gradient. Plus the reference losses on the same output and target.
- sigmoid-bceloss: the op that produced the tensor reaching the BCE loss (its autograd node), not its range.
- lint rule loss-reduced-before-nonlinearity: `(pred - y).mean() ** 2`, `sqrt(((a - b) ** 2).sum())`.

Each bug runs as a real script in a child process next to its fixed twin (the same script with --fix); the
negatives are healthy losses that look alike (hand-written MSE, RMSE, a WGAN-style mean, Huber, logits that
start inside [0, 1]).
"""

from __future__ import annotations

import textwrap

import pytest
from scriptfiles import error_ids, found, write_script
from traintriage.lint import lint_source
from traintriage.probe import run_probe
from traintriage.probe.detectors import sigmoid_bceloss, wrong_loss_formula

STEPS = 12


_script, _found, _errors = write_script, found, error_ids


# ---------------------------------------------------------------------------------------------------------------
# wrong-loss-formula (runtime)

REGRESSION = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

FIX = "--fix" in sys.argv
torch.manual_seed(0)
X = torch.randn(1024, 10)
Y = torch.stack([X[:, 0] * X[:, 1], torch.sin(2 * X[:, 2]), X[:, 3] - X[:, 4]], 1)
loader = DataLoader(TensorDataset(X, Y), batch_size=32, shuffle=True)
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.05)


def loss_fn(pred, y):
    return LOSS


for epoch in range(2):
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def _regression(tmp_path, name, bug, fixed=None):
    loss = f"({fixed}) if FIX else ({bug})" if fixed else bug
    return _script(tmp_path, name, REGRESSION.replace("LOSS", loss))


@pytest.mark.slow
def test_square_of_mean_error_found_and_fix_clean(tmp_path):
    p = _regression(tmp_path, "sqmean.py", "(pred - y).mean() ** 2", "((pred - y) ** 2).mean()")
    rep = run_probe(p, steps=STEPS)
    hits = _found(rep, "wrong-loss-formula", ("error",))
    assert hits, rep.findings
    ev = hits[0].evidence
    assert ev["coupling"] == pytest.approx(1.0, abs=1e-3) and ev["grad_row_spread"] < 1e-3
    # the handbook's confirm step: the library losses on the same output and target, far above the script's loss
    # (the target is traced through the DataLoader's batch book-keeping; without it there is no reference)
    if ev.get("ref_mse") is not None:
        assert ev["ref_mse"] > 10 * ev["loss"] and ev["ref_l1"] > 0
    fixed = run_probe(p, steps=STEPS, args=["--fix"])
    assert not _found(fixed, "wrong-loss-formula", ("error", "warning")), fixed.findings
    assert "wrong-loss-formula" not in _errors(fixed)


@pytest.mark.slow
def test_per_feature_mean_squared_also_couples_samples(tmp_path):
    # the mean over the batch taken per output column, then squared: the same bug one axis later
    p = _regression(tmp_path, "colmean.py", "((pred - y).mean(0) ** 2).sum()")
    rep = run_probe(p, steps=STEPS)
    assert _found(rep, "wrong-loss-formula", ("error",)), rep.findings


@pytest.mark.slow
def test_norm_of_each_sample_error_is_a_warning_and_l1_fix_clean(tmp_path):
    bug = "torch.sqrt(((pred - y) ** 2).sum(dim=1) + 1e-8).mean()"
    fixed = "torch.sqrt((pred - y) ** 2 + 1e-8).sum(dim=1).mean()"
    p = _regression(tmp_path, "eucl.py", bug, fixed)
    rep = run_probe(p, steps=STEPS)
    hits = _found(rep, "wrong-loss-formula", ("warning",))
    assert hits, rep.findings
    ev = hits[0].evidence
    assert ev["grad_row_norm_cv"] < 1e-3 and ev["grad_elem_cv"] > 0.1 and ev["features"] == 3
    assert ev["grad_row_norm"] == pytest.approx(1 / 32, rel=1e-3)  # mean over the batch of unit vectors
    rep_fixed = run_probe(p, steps=STEPS, args=["--fix"])
    assert not _found(rep_fixed, "wrong-loss-formula"), rep_fixed.findings


@pytest.mark.slow
@pytest.mark.parametrize(
    "loss",
    [
        "((pred - y) ** 2).mean()",  # hand-written MSE
        "torch.sqrt(((pred - y) ** 2).mean())",  # RMSE over the batch
        "pred.mean() - y.mean()",  # linear in the batch mean (a WGAN critic's form): no curvature, no coupling
        "torch.nn.functional.smooth_l1_loss(pred, y)",
        "torch.nn.functional.cross_entropy(pred, y.argmax(1))",
    ],
)
def test_per_sample_losses_are_not_flagged(tmp_path, loss):
    p = _regression(tmp_path, "ok.py", loss)
    rep = run_probe(p, steps=STEPS)
    assert not _found(rep, "wrong-loss-formula"), (loss, rep.findings)


@pytest.mark.slow
def test_cross_entropy_on_collapsed_outputs_is_not_a_norm(tmp_path):
    # a head that outputs the same logits for every sample: CE's gradient rows are permutations of one vector,
    # all of one length, like a norm's
    p = _script(tmp_path, "collapsed.py", REGRESSION.replace("LOSS", "torch.nn.functional.cross_entropy(pred, y.argmax(1))")
                .replace("opt = torch.optim", "nn.init.zeros_(model[2].weight)\nnn.init.zeros_(model[2].bias)\n"
                         "opt = torch.optim"))
    rep = run_probe(p, steps=STEPS)
    assert not _found(rep, "wrong-loss-formula"), rep.findings


def test_detector_reads_lossgrad_records():
    base = {"step": 0, "shape": [64, 1], "batch": 64, "features": 1, "grad_row_norm_mean": 1e-3,
            "grad_row_norm_cv": 0.0, "grad_row_spread": 0.0, "grad_elem_cv": None, "grad_elem_absmean": 1e-3,
            "coupling": 1.0, "loss": 1e-4, "ref_mse": 2.5, "ref_l1": 1.2, "target_shape": [64]}
    f = wrong_loss_formula.detect({"lossgrad": [base, dict(base, step=1)]})
    assert f and f[0].severity == "error" and f[0].evidence["ref_mse"] == 2.5
    # one coupled record among several per-sample ones is not enough
    per_sample = dict(base, coupling=0.0, grad_row_spread=1.0, grad_row_norm_cv=0.9)
    assert not wrong_loss_formula.detect({"lossgrad": [base, per_sample, per_sample]})
    # no Hessian-vector product (an op without double backward): no batch-mean finding from first order alone
    assert not wrong_loss_formula.detect({"lossgrad": [dict(base, coupling=None)]})
    # every row the same length, but no curvature: NLL on log-probabilities (-1/batch on a one-hot per row)
    nll = dict(base, shape=[64, 4], features=4, grad_row_spread=0.9, grad_elem_cv=2.0, hvp_own=0.0, coupling=None)
    assert not wrong_loss_formula.detect({"lossgrad": [nll, nll]})
    norm = dict(nll, grad_elem_cv=0.7, hvp_own=0.02, coupling=0.0, out_spread=1.0, out_row_norm=2.0)
    f = wrong_loss_formula.detect({"lossgrad": [norm, norm]})
    assert f and f[0].severity == "warning" and f[0].evidence["features"] == 4
    # the same gradient lengths from a collapsed network (one output row for every sample): not a norm
    dead = dict(norm, out_spread=1e-7)
    assert not wrong_loss_formula.detect({"lossgrad": [dead, dead]})
    # the broadcast form still reads the loss calls
    call = {"fn": "mse_loss", "shape_mismatch": True, "input_shape": [8, 1], "target_shape": [8],
            "broadcast_shape": [8, 8]}
    f = wrong_loss_formula.detect({"loss_calls": [call]})
    assert f and f[0].evidence["broadcast_shape"] == [8, 8]


# ---------------------------------------------------------------------------------------------------------------
# sigmoid-bceloss (runtime)

BINARY = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

FIX = "--fix" in sys.argv
torch.manual_seed(0)
X = torch.randn(1024, 12)
y = ((X[:, 0] * X[:, 1] + 0.5 * X[:, 2]) > 0).float()
loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 1))
SETUP
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(2):
    for xb, yb in loader:
        z = model(xb).squeeze(-1)
        loss = LOSS
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def _binary(tmp_path, name, loss, setup=""):
    return _script(tmp_path, name, BINARY.replace("LOSS", loss).replace("SETUP", setup))


@pytest.mark.slow
def test_sigmoid_into_logits_loss_found_by_producer_and_fix_clean(tmp_path):
    p = _binary(tmp_path, "sig.py", "nn.BCEWithLogitsLoss()(z if FIX else torch.sigmoid(z), yb)",
                # logits start small (inside [0, 1] on many rows): range alone would call the fix a bug
                setup="nn.init.normal_(model[2].weight, std=0.01); nn.init.constant_(model[2].bias, 0.3)")
    rep = run_probe(p, steps=STEPS)
    hits = _found(rep, "sigmoid-bceloss", ("error",))
    assert hits and hits[0].evidence["producer"] == "Sigmoid", rep.findings
    fixed = run_probe(p, steps=STEPS, args=["--fix"])
    assert "sigmoid-bceloss" not in _errors(fixed), fixed.findings


@pytest.mark.slow
def test_hand_written_sigmoid_into_logits_loss_found_by_range(tmp_path):
    p = _binary(tmp_path, "sig_hand.py", "nn.BCEWithLogitsLoss()(1 / (1 + torch.exp(-z)), yb)")
    rep = run_probe(p, steps=STEPS)
    hits = _found(rep, "sigmoid-bceloss", ("error",))
    assert hits and hits[0].evidence["producer"] not in sigmoid_bceloss.SCORE_OPS, rep.findings


@pytest.mark.slow
def test_sigmoid_bceloss_saturated_is_a_warning_and_healthy_bceloss_clean(tmp_path):
    loss = "nn.BCELoss()(torch.sigmoid(z), yb)"
    sat = _binary(tmp_path, "sat.py", loss, setup="model[2].weight.data.mul_(300.0)")
    rep = run_probe(sat, steps=STEPS)
    hits = _found(rep, "sigmoid-bceloss", ("warning",))
    assert hits and hits[0].evidence["clamped_wrong_frac"] > 0, rep.findings
    ok = run_probe(_binary(tmp_path, "ok.py", loss), steps=STEPS)
    assert not _found(ok, "sigmoid-bceloss", ("error", "warning")), ok.findings


def test_sigmoid_detector_ignores_range_of_layer_outputs():
    # a linear head's logits inside [0, 1] on most sampled calls (the old range test fired on this)
    calls = [{"fn": "binary_cross_entropy_with_logits", "producer": "Addmm", "input_min": 0.02, "input_max": 0.38}] * 3
    calls.append({"fn": "binary_cross_entropy_with_logits", "producer": "Addmm", "input_min": -2.0, "input_max": 3.0})
    assert not sigmoid_bceloss.detect({"loss_calls": calls})
    sig = [dict(c, producer="Sigmoid", input_min=0.5, input_max=0.7) for c in calls]
    f = sigmoid_bceloss.detect({"loss_calls": sig})
    assert f and f[0].severity == "error" and f[0].evidence["producer"] == "Sigmoid"


# ---------------------------------------------------------------------------------------------------------------
# lint rule loss-reduced-before-nonlinearity

LINT_TEMPLATE = """
import torch
import torch.nn as nn

model = nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(8, 4), torch.randn(8, 2)
for step in range(10):
    pred = model(x)
    loss = LOSS
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


def _lint(loss, template=LINT_TEMPLATE):
    src = textwrap.dedent(template).replace("LOSS", loss)
    return [f for f in lint_source(src, "t.py") if f.id == "wrong-loss-formula"]


@pytest.mark.parametrize(
    "loss",
    [
        "(pred - y).mean() ** 2",
        "((pred - y).mean()) ** 2",
        "torch.mean(pred - y) ** 2",
        "torch.square((pred - y).mean())",
        "(pred - y).sum().pow(2)",
        "torch.pow((pred - y).mean(), 2)",
        "(pred - y).mean().abs()",
        "torch.abs(torch.sum(pred - y))",
        "abs((pred - y).mean())",
    ],
)
def test_lint_nonlinearity_of_reduced_error_is_an_error(loss):
    fs = _lint(loss)
    assert len(fs) == 1 and fs[0].severity == "error", (loss, fs)
    assert fs[0].evidence["form"] == "nonlinearity-of-mean" and fs[0].where == "t.py:10"


@pytest.mark.parametrize(
    "loss",
    [
        "torch.sqrt(((pred - y) ** 2).sum(dim=1) + 1e-8).mean()",
        "torch.sqrt(((pred - y) ** 2).sum())",
        "(((pred - y) ** 2).sum(1)) ** 0.5",
        "((pred - y).pow(2).sum(-1)).sqrt().mean()",
        "torch.sqrt(torch.sum((pred - y) * (pred - y), dim=1)).mean()",
    ],
)
def test_lint_sqrt_after_sum_is_a_warning(loss):
    fs = _lint(loss)
    assert len(fs) == 1 and fs[0].severity == "warning" and fs[0].evidence["form"] == "sqrt-after-sum", (loss, fs)


@pytest.mark.parametrize(
    "loss",
    [
        "((pred - y) ** 2).mean()",
        "(pred - y).abs().mean()",
        "torch.sqrt((pred - y) ** 2 + 1e-8).sum(dim=1).mean()",  # root per element: a smooth L1
        "torch.sqrt(((pred - y) ** 2).mean())",  # RMSE
        "torch.linalg.norm(pred - y, dim=1).mean()",  # a distance stated on purpose
        "(pred.mean(0) - y.mean(0)).pow(2).sum()",  # moment matching: means of two batches
        "((pred - y).mean(0) ** 2).sum()",  # per-column reduction: the runtime coupling test's business
        "pred.mean() ** 2",  # no difference
        "(pred - 1.0).mean() ** 2",  # a constant offset, not a target
    ],
)
def test_lint_per_element_losses_not_flagged(loss):
    assert not _lint(loss), loss


def test_lint_skips_no_grad_metrics_and_files_without_training():
    metric = """
    import torch
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    with torch.no_grad():
        bias2 = (model(x) - y).mean() ** 2
        dist = torch.sqrt(((model(x) - y) ** 2).sum(1))
    """
    assert not [f for f in lint_source(textwrap.dedent(metric), "m.py") if f.id == "wrong-loss-formula"]
    no_train = "import torch\na, b = torch.randn(3), torch.randn(3)\nd = torch.sqrt(((a - b) ** 2).sum())\n"
    assert not [f for f in lint_source(no_train, "n.py") if f.id == "wrong-loss-formula"]
