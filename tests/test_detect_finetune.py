"""Fine-tuning and wiring detectors that read what the harness measures at run time:

- frozen-bn-stats-drift: BatchNorm layers no optimizer trains, in train mode, rewriting their running statistics;
- frozen-param-in-optimizer: a frozen tensor the optimizer holds that is still a constant initial value;
- wrong-train-eval-mode: evaluation passes (no-grad forwards of a trained model) run in training mode.

Each bug runs as a real script in a child process next to its fixed twin; the negatives are healthy patterns
that look alike (a teacher nobody trains, a no-grad metric in every step, a frozen backbone in eval mode).
"""

from __future__ import annotations

import pytest
from scriptfiles import error_ids, found, write_script
from traintriage.probe import run_probe
from traintriage.probe.detectors import (
    frozen_bn_stats_drift,
    frozen_param_in_optimizer,
    wrong_train_eval_mode,
)

STEPS = 20


_script, _found, _errors = write_script, found, error_ids


# ---------------------------------------------------------------------------------------------------------------
# frozen-bn-stats-drift

BN_FINETUNE = """
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F

FIX = "--fix" in sys.argv
torch.manual_seed(0)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.features(x))


net = Classifier()
net.features.requires_grad_(False)           # "pretrained" features stay fixed
opt = torch.optim.Adam(net.fc.parameters(), lr=1e-2)
x, y = torch.randn(256, 3, 8, 8) + 2.0, torch.randint(0, 4, (256,))
for step in range(200):
    net.train()
    if FIX:
        net.features.eval()
    i = torch.randint(0, 256, (6,))
    loss = F.cross_entropy(net(x[i]), y[i])
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


@pytest.mark.slow
def test_frozen_bn_in_train_mode_is_found_and_its_fix_is_clean(tmp_path):
    s = _script(tmp_path, "bn_ft.py", BN_FINETUNE)
    rep = run_probe(s, steps=STEPS)
    got = _found(rep, "frozen-bn-stats-drift", ("error",))
    assert got, [(f.id, f.severity) for f in rep.findings]
    ev = got[0].evidence
    assert ev["max_drift"] > frozen_bn_stats_drift.DRIFT and ev["steps_frozen_train"] >= STEPS - 1
    assert ev["updates"] >= STEPS - 2 and ev["layers"]
    fixed = run_probe(s, steps=STEPS, args=["--fix"])
    assert _found(fixed, "frozen-bn-stats-drift") == []
    # the frozen features sit in eval mode inside a model in train mode: not a train/eval-mode bug either
    assert "wrong-train-eval-mode" not in _errors(fixed), _errors(fixed)


TEACHER = """
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


def mlp():
    return nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))


teacher = mlp()
for p in teacher.parameters():
    p.requires_grad = False              # a fixed teacher, left in train mode: nobody trains it
student = mlp()
opt = torch.optim.SGD(student.parameters(), lr=0.05)
x = torch.randn(512, 10)
for step in range(200):
    i = torch.randint(0, 512, (32,))
    with torch.no_grad():
        soft = F.softmax(teacher(x[i]), -1)
    out = F.log_softmax(student(x[i]), -1)
    loss = F.kl_div(out, soft, reduction="batchmean")
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


@pytest.mark.slow
def test_teacher_nobody_trains_is_neither_frozen_bn_nor_eval_mode(tmp_path):
    rep = run_probe(_script(tmp_path, "teacher.py", TEACHER), steps=STEPS)
    assert _found(rep, "frozen-bn-stats-drift") == []
    assert _found(rep, "wrong-train-eval-mode") == []


# ---------------------------------------------------------------------------------------------------------------
# frozen-param-in-optimizer

FROZEN_CONST = """
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F

FIX = "--fix" in sys.argv
torch.manual_seed(0)


class Tagger(nn.Module):
    # "pretrained" word features plus a learned offset that starts at zero
    def __init__(self):
        super().__init__()
        self.embed_words = nn.Linear(12, 24)
        self.embed_offset = nn.Parameter(torch.zeros(24))
        self.out = nn.Linear(24, 3)

    def forward(self, x):
        return self.out(torch.relu(self.embed_words(x) + self.embed_offset))


model = Tagger()
for name, p in model.named_parameters():
    if ("embed_words" in name) if FIX else ("embed" in name):   # meant: only the "pretrained" words
        p.requires_grad = False
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x = torch.randn(64, 12)
y = torch.zeros(64, dtype=torch.long)
for step in range(200):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


@pytest.mark.slow
def test_frozen_constant_param_in_optimizer_is_found_and_its_fix_is_clean(tmp_path):
    s = _script(tmp_path, "frozen_const.py", FROZEN_CONST)
    rep = run_probe(s, steps=STEPS)
    got = _found(rep, "frozen-param-in-optimizer")
    assert got, [(f.id, f.severity) for f in rep.findings]
    ev = got[0].evidence
    assert [c["name"] for c in ev["constant"]] == ["embed_offset"] and ev["constant"][0]["value"] == 0.0
    fixed = run_probe(s, steps=STEPS, args=["--fix"])
    assert _found(fixed, "frozen-param-in-optimizer") == [], [(f.id, f.severity) for f in fixed.findings]
    assert "frozen-param-in-optimizer" not in _errors(fixed)


# ---------------------------------------------------------------------------------------------------------------
# wrong-train-eval-mode: evaluation in train mode

VAL_TRAIN_MODE = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

FIX = "--fix" in sys.argv


@torch.no_grad()
def accuracy(net, loader):
    if FIX:
        net.eval()
    hits = n = 0
    for xb, yb in loader:
        hits += (net(xb).argmax(-1) == yb).sum().item()
        n += len(yb)
    if FIX:
        net.train()
    return hits / n


torch.manual_seed(0)
x = torch.randn(600, 8)
y = (x[:, 0] > 0).long()
train = DataLoader(TensorDataset(x[:480], y[:480]), batch_size=60, shuffle=True)
val = DataLoader(TensorDataset(x[480:], y[480:]), batch_size=10)
net = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
net.train()
for epoch in range(10):
    for xb, yb in train:
        loss = nn.functional.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(epoch, accuracy(net, val))
"""


@pytest.mark.slow
def test_validation_in_train_mode_is_found_and_its_fix_is_clean(tmp_path):
    s = _script(tmp_path, "val_mode.py", VAL_TRAIN_MODE)
    rep = run_probe(s, steps=STEPS)
    got = _found(rep, "wrong-train-eval-mode", ("error",))
    assert got, [(f.id, f.severity) for f in rep.findings]
    ev = got[0].evidence
    assert ev["eval_passes_in_train_mode"] >= 12 and ev["intervals"] == 2  # after step 8 and after step 16
    assert ev["dropout_active"] == 1 and ev["bn_updating"] == 1 and ev["max_bn_change"] > wrong_train_eval_mode.BN_CHANGE
    fixed = run_probe(s, steps=STEPS, args=["--fix"])
    assert _found(fixed, "wrong-train-eval-mode") == [], [(f.id, f.severity) for f in fixed.findings]


NO_GRAD_EVERY_STEP = """
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
net = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
x = torch.randn(512, 8)
y = (x[:, 0] > 0).long()
for step in range(200):
    i = torch.randint(0, 512, (32,))
    loss = F.cross_entropy(net(x[i]), y[i])
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():                 # a running train-batch metric, every step, in train mode
        acc = (net(x[i]).argmax(-1) == y[i]).float().mean()
"""


@pytest.mark.slow
def test_no_grad_forward_in_every_step_is_not_an_evaluation(tmp_path):
    rep = run_probe(_script(tmp_path, "metric_every_step.py", NO_GRAD_EVERY_STEP), steps=STEPS)
    assert _found(rep, "wrong-train-eval-mode") == [], [(f.id, f.severity) for f in rep.findings]


# ---------------------------------------------------------------------------------------------------------------
# the same rules on hand-built evidence (fast): thresholds and guards


def _ev(**kw):
    ev = {"steps": [{"opt": 0, "step": i, "modes": []} for i in range(40)], "optimizers": [], "steps_all": []}
    ev.update(kw)
    return ev


def _iv(step, **kw):
    r = {"step": step, "n": 8, "n_eval_mode": 0, "n_train_mode": 8, "root": "Net", "dropout_active": 1,
         "bn_updating": 1, "bn_cumulative": 0, "bn_change": 0.05}
    r.update(kw)
    return r


def test_eval_passes_in_few_intervals_are_flagged_every_interval_is_not():
    assert wrong_train_eval_mode.detect(_ev(evalfwd=[_iv(10), _iv(30)]))[0].severity == "error"
    every = [_iv(i) for i in range(1, 41)]
    assert wrong_train_eval_mode.detect(_ev(evalfwd=every)) == []


def test_eval_pass_severity_follows_what_it_changed():
    drop_only = wrong_train_eval_mode.detect(_ev(evalfwd=[_iv(10, bn_updating=0, bn_change=0.0)]))
    assert drop_only[0].severity == "warning"
    # BatchNorm with momentum=None (a cumulative re-calibration pass, swa_utils.update_bn) and no dropout: nothing
    recal = _iv(10, dropout_active=0, bn_cumulative=1)
    assert wrong_train_eval_mode.detect(_ev(evalfwd=[recal])) == []
    in_eval = _iv(10, n_train_mode=0, n_eval_mode=8)
    assert wrong_train_eval_mode.detect(_ev(evalfwd=[in_eval])) == []


def test_frozen_model_in_eval_mode_is_not_training_in_eval_mode():
    modes = [{"root": "Sequential", "training": False, "mode_dependent": 2, "trained": False},
             {"root": "Sequential", "training": True, "mode_dependent": 2, "trained": True}]
    ev = _ev(steps=[{"opt": 0, "step": i, "modes": modes} for i in range(40)])
    assert wrong_train_eval_mode.detect(ev) == []
    modes[1]["training"] = False
    assert wrong_train_eval_mode.detect(ev)[0].id == "wrong-train-eval-mode"


def test_frozen_bn_rows():
    row = {"name": "backbone.1", "frozen_affine": True, "training": True, "drift": 0.0, "var_drift": 0.3,
           "steps_frozen_train": 40, "updates": 39}
    assert frozen_bn_stats_drift.detect({"bn": {"layers": [row]}})[0].evidence["max_var_drift"] == 0.3
    assert frozen_bn_stats_drift.detect({"bn": {"layers": [dict(row, training=False)]}}) == []
    assert frozen_bn_stats_drift.detect({"bn": {"layers": [dict(row, frozen_affine=False)]}}) == []


def test_frozen_constant_severity_follows_the_overfit_check():
    groups = [{"n_frozen": 1, "frozen_names": ["pos"], "frozen_const": [{"name": "pos", "value": 0.0, "numel": 64}]}]
    opts = [{"index": 0, "groups": groups}]
    failed = frozen_param_in_optimizer.detect(_ev(optimizers=opts, overfit={"passed": False, "initial": 2.0,
                                                                            "final": 1.9, "ratio": 0.95}))
    assert failed[0].severity == "error" and failed[0].evidence["n_constant"] == 1
    passed = frozen_param_in_optimizer.detect(_ev(optimizers=opts, overfit={"passed": True, "ratio": 0.1}))
    assert passed[0].severity == "warning"
    groups[0]["frozen_const"] = []
    assert frozen_param_in_optimizer.detect(_ev(optimizers=opts))[0].severity == "info"


def test_frozen_bn_drift_ranks_ahead_of_the_loss_spikes_it_causes():
    from traintriage.report import Finding, sort_findings

    lr = Finding(id="lr-too-high", severity="error", confidence=0.9, source="probe", message="spike",
                 evidence={"loss_spike": 3.0})
    bn = Finding(id="frozen-bn-stats-drift", severity="error", confidence=0.8, source="probe", message="drift",
                 evidence={"max_drift": 0.08})
    out = sort_findings([lr, bn])
    assert [f.id for f in out] == ["frozen-bn-stats-drift", "lr-too-high"]
    assert out[1].evidence["consequence_of"] == "frozen-bn-stats-drift"
