"""Data-family detectors on real scripts (real child processes), each bug against its fixed twin.

label-leakage (a column that separates the classes; a sequence model that can see the token it predicts),
stale-batch (next(iter(loader)) every step; a stale variable fed instead of the unpacked batch), the
class-imbalance-collapse minority-recall condition, and the root-cause-before-consequence ordering in
report.sort_findings (unnormalized inputs before the lr-too-high / dead-relu they cause).
"""

from __future__ import annotations

import pytest
from scriptfiles import write_script
from traintriage.probe import run_probe
from traintriage.probe.detectors import class_imbalance_collapse, run_detectors
from traintriage.report import Finding, sort_findings

STEPS = 20


_write = write_script


def _errors(rep):
    return [(f.id, f.evidence) for f in rep.findings if f.severity == "error"]


def _top(rep):
    return rep.top_ids(1)


# ------------------------------------------------------------------ fast: ordering and the recall condition
def _f(id_, sev="error", conf=0.9):
    return Finding(id=id_, severity=sev, confidence=conf, message=id_, evidence={"x": 1})


def test_root_cause_moves_ahead_of_its_consequences():
    out = sort_findings([_f("lr-too-high", conf=0.9), _f("dead-relu", conf=0.8), _f("unnormalized-inputs", conf=0.8),
                         _f("missing-zero-grad", conf=0.95)])
    assert [f.id for f in out] == ["missing-zero-grad", "unnormalized-inputs", "lr-too-high", "dead-relu"]
    assert out[2].evidence["consequence_of"] == "unnormalized-inputs"
    assert out[3].evidence["consequence_of"] == "unnormalized-inputs"
    assert "consequence_of" not in out[0].evidence and "consequence_of" not in out[1].evidence
    assert [f.id for f in sort_findings(out)] == [f.id for f in out]  # idempotent


def test_a_layer_left_out_of_the_optimizer_is_named_before_its_gradient_outlier():
    # the optimizer-misses-last-layer mutant of a seq2seq LSTM: the left-out fc_out then holds the gradient
    out = sort_findings([_f("module-gradient-outlier", conf=0.75), _f("params-not-in-optimizer", conf=0.7)])
    assert [f.id for f in out] == ["params-not-in-optimizer", "module-gradient-outlier"]
    assert out[1].evidence["consequence_of"] == "params-not-in-optimizer"


def test_weaker_root_cause_does_not_jump_a_more_severe_finding():
    out = sort_findings([_f("lr-too-high"), _f("unnormalized-inputs", sev="warning", conf=0.5)])
    assert [f.id for f in out] == ["lr-too-high", "unnormalized-inputs"]
    assert "consequence_of" not in out[0].evidence


def _imbalance_ev(**call):
    c = {"fn": "cross_entropy", "step": 19, "num_classes": 2, "target_float": False, "target_top_value": 0,
         "target_top_frac": 0.95, "target_n_unique": 2, "pred_top_value": 0, "pred_top_frac": 0.95, **call}
    return {"loss_calls": [c], "steps": [], "losses": []}


def test_imbalance_needs_minority_classes_unrecognised():
    # 95 % of predictions are the majority class because 95 % of the targets are, and the rest are right
    assert class_imbalance_collapse.detect(_imbalance_ev(accuracy=1.0, minority_recall=1.0, minority_n=3)) == []
    found = class_imbalance_collapse.detect(_imbalance_ev(pred_top_frac=1.0, accuracy=0.95, minority_recall=0.0,
                                                          minority_n=3))
    assert [f.id for f in found] == ["class-imbalance-collapse"]
    assert found[0].evidence["minority_recall"] == 0.0
    assert class_imbalance_collapse.detect(_imbalance_ev(accuracy=1.0)) == []  # older evidence: beats majority


def test_label_leakage_kinds_carry_their_numbers():
    ev = {"loss_calls": [{"fn": "cross_entropy", "leak": {
        "kind": "answer-visible", "shift": 1, "match": 1.0, "position": 8, "answer_position": 9,
        "grad_frac_at_answer": 0.06, "grad_frac_after": 0.1, "seq_len": 16, "layout": "batch-major"}}]}
    findings, notes = run_detectors(ev)
    leak = [f for f in findings if f.id == "label-leakage"]
    assert not notes and leak and leak[0].evidence["grad_frac_at_answer"] == 0.06


# ------------------------------------------------------------------ label-leakage on real scripts
LEAKY_TABLE = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

leak = "--leak" in sys.argv
torch.manual_seed(0)
n = 2048
x = torch.randn(n, 8)
y = torch.bucketize(x[:, :3] @ torch.tensor([1.0, -1.0, 0.5]) + 0.3 * torch.randn(n), torch.tensor([-0.7, 0.7]))
if leak:  # a "status code" column written after the outcome: one value range per class, not monotone in y
    x = torch.cat([x, (torch.tensor([5.0, 0.0, 10.0])[y] + torch.rand(n))[:, None]], 1)
model = nn.Sequential(nn.Linear(x.shape[1], 32), nn.Tanh(), nn.Linear(32, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True):
        loss = nn.CrossEntropyLoss()(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
"""

# A bidirectional GRU as a next-token model: the backward direction carries the next token to each position.
BIRNN_LM = """
import sys
import torch
import torch.nn as nn

bidir = "--bidirectional" in sys.argv
V, T = 10, 12


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.rnn = nn.GRU(32, 32, batch_first=True, bidirectional=bidir)
        self.out = nn.Linear(64 if bidir else 32, V)

    def forward(self, tokens):
        h, _ = self.rnn(self.emb(tokens))
        return self.out(h)


torch.manual_seed(0)
model = LM()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(200):
    seq = (torch.randint(0, V, (32, 1)) + torch.randint(0, 3, (32, T + 1)).cumsum(1)) % V
    logits = model(seq[:, :-1])
    loss = nn.functional.cross_entropy(logits.transpose(1, 2), seq[:, 1:])  # [B, V, T] layout
    opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
def test_separating_column_is_label_leakage(tmp_path):
    p = _write(tmp_path, "table.py", LEAKY_TABLE)
    rep = run_probe(p, steps=STEPS, args=["--leak"])
    assert _top(rep) == ["label-leakage"], _errors(rep)
    ev = rep.findings[0].evidence
    assert ev["kind"] == "separating-column" and ev["column"] == 8 and ev["n_classes"] == 3
    assert rep.findings[0].severity == "error" and ev["n_separating"] == 1 and ev["gap_over_within_std"] >= 1.0
    fixed = run_probe(p, steps=STEPS)
    assert "label-leakage" not in [f.id for f in fixed.findings], _errors(fixed)


EASY_BLOBS = """
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
y = torch.randint(0, 2, (1024,))
x = torch.randn(1024, 4) + 6.0 * y[:, None]  # every feature far apart by class: an easy task, not a leak
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for epoch in range(2):
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True):
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
def test_easy_dataset_with_many_separating_columns_is_no_error(tmp_path):
    rep = run_probe(_write(tmp_path, "blobs.py", EASY_BLOBS), steps=STEPS)
    assert "label-leakage" not in [i for i, _ in _errors(rep)], _errors(rep)
    leak = [f for f in rep.findings if f.id == "label-leakage"]
    assert not leak or leak[0].evidence["n_separating"] > 1


@pytest.mark.slow
def test_next_token_model_that_sees_its_answer(tmp_path):
    p = _write(tmp_path, "lm.py", BIRNN_LM)
    rep = run_probe(p, steps=STEPS, args=["--bidirectional"])
    assert _top(rep) == ["label-leakage"], _errors(rep)
    ev = rep.findings[0].evidence
    assert ev["kind"] == "answer-visible" and ev["shift"] == 1 and ev["grad_frac_at_answer"] > 1e-4
    fixed = run_probe(p, steps=STEPS)  # unidirectional: the gradient on the next token is exactly 0
    assert "label-leakage" not in [f.id for f in fixed.findings], _errors(fixed)


# ------------------------------------------------------------------ stale-batch on real scripts
NEXT_ITER = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

shuffle = "--shuffle" in sys.argv
torch.manual_seed(0)
x = torch.randn(1024, 16)
y = (x[:, 0] + x[:, 1] > 0).long()
loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=shuffle)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
step = 0
while step < 100:
    batch = next(iter(loader))          # a new iterator every step
    loss = nn.functional.cross_entropy(model(batch[0]), batch[1])
    opt.zero_grad(); loss.backward(); opt.step()
    step += 1
"""

STALE_VAR = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

fixed = "--fixed" in sys.argv
torch.manual_seed(0)
data = [{"pixels": torch.randn(1, 8, 8), "label": int(i % 4)} for i in range(512)]
loader = DataLoader(data, batch_size=16, shuffle=True)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
preview = next(iter(loader))
print("preview", preview["pixels"].shape)
for epoch in range(3):
    for batch in loader:
        inputs = batch if fixed else preview   # the preview batch shadows the real one
        loss = nn.functional.cross_entropy(model(inputs["pixels"]), inputs["label"])
        opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["overfit", "observe"])
def test_next_iter_every_step_on_unshuffled_loader(tmp_path, mode):
    p = _write(tmp_path, "nextiter.py", NEXT_ITER)
    rep = run_probe(p, steps=STEPS, mode=mode)
    assert _top(rep) == ["stale-batch"], _errors(rep)
    assert rep.findings[0].evidence["identical_first_batches"] >= 3
    shuffled = run_probe(p, steps=STEPS, mode=mode, args=["--shuffle"])  # a fresh random batch each step
    assert "stale-batch" not in [f.id for f in shuffled.findings], _errors(shuffled)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["overfit", "observe"])
def test_stale_variable_instead_of_the_unpacked_batch(tmp_path, mode):
    p = _write(tmp_path, "stalevar.py", STALE_VAR)
    rep = run_probe(p, steps=STEPS, mode=mode)
    assert _top(rep) == ["stale-batch"], _errors(rep)
    ev = rep.findings[0].evidence
    assert ev["ignored_batches"] >= 2 and ev["stale_batch"]["batch"] == 1
    fixed = run_probe(p, steps=STEPS, mode=mode, args=["--fixed"])
    assert "stale-batch" not in [f.id for f in fixed.findings], _errors(fixed)


EPOCH_HOIST = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

mode = sys.argv[1] if len(sys.argv) > 1 else "fixed"
torch.manual_seed(0)
x = torch.randn(640, 16)
y = (x[:, 0] - x[:, 2] > 0).long()
loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for epoch in range(5):
    first = next(iter(loader))                   # fetched once per epoch (the bug when it is trained on)
    for xb, yb in loader:
        if mode == "hoisted":
            xb, yb = first
        for _ in range(3 if mode == "repeat" else 1):   # several steps on one fresh batch is intended
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
def test_batch_fetched_once_per_epoch_and_trained_on(tmp_path):
    """A batch fetched above the inner loop (once per epoch) and fed while the loader advances: the reference
    re-anchors each epoch, so the within-epoch run is seen; several steps on each fresh batch is not stale."""
    p = _write(tmp_path, "epochhoist.py", EPOCH_HOIST)
    rep = run_probe(p, steps=STEPS, args=["hoisted"])
    assert _top(rep) == ["stale-batch"], _errors(rep)
    assert rep.findings[0].evidence["ignored_batches"] >= 2
    for fixed in ("fixed", "repeat"):
        ok = run_probe(p, steps=STEPS, args=[fixed])
        assert "stale-batch" not in [f.id for f in ok.findings], (fixed, _errors(ok))


GET_BATCH_LM = """import random
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

hoisted = "--hoisted" in sys.argv      # the batch is fetched once, before the loop
unshifted = "--unshifted" in sys.argv  # the targets are the inputs themselves
full = "--full" in sys.argv            # every window, in order, trained full-batch (intended)
torch.manual_seed(0)
random.seed(0)
V, T, B = 16, 16, 32
succ = {a: ((a * 3 + 1) % V, (a * 5 + 2) % V) for a in range(V)}  # a Markov chain: two likely successors
tok = [0]
for _ in range(6000):
    tok.append(random.choices(succ[tok[-1]], weights=(0.8, 0.2))[0])
data = torch.tensor(tok)


def get_batch():
    ix = torch.randint(len(data) - T - 1, (B,))
    x = torch.stack([data[i:i + T] for i in ix])
    y = torch.stack([data[i:i + T] if unshifted else data[i + 1:i + 1 + T] for i in ix])
    return x, y


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.rnn = nn.GRU(32, 64, batch_first=True)
        self.head = nn.Linear(64, V)

    def forward(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.head(h)


model = LM()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
if full:
    xb = torch.stack([data[i:i + T] for i in range(0, 2048, T)])
    yb = torch.stack([data[i + 1:i + 1 + T] for i in range(0, 2048, T)])
else:
    xb, yb = get_batch()
for it in range(100):
    if not (hoisted or full):
        xb, yb = get_batch()
    logits = model(xb)
    loss = F.cross_entropy(logits.reshape(-1, V), yb.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
x = torch.stack([data[i:i + T] for i in range(3000, 5000, T)])
y = torch.stack([data[i + 1:i + 1 + T] for i in range(3000, 5000, T)])
with torch.no_grad():
    print(f"final_val_loss={F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1)).item():.4f}")
"""


@pytest.mark.slow
def test_get_batch_called_once_before_the_loop(tmp_path):
    """No DataLoader: batches are torch.stack of random slices (get_batch()). Fetched once before the loop, the
    model sees the identical gathered batch every step; called inside the loop it does not; every window stacked
    in order and trained full-batch is the intended look-alike."""
    p = _write(tmp_path, "getbatch.py", GET_BATCH_LM)
    rep = run_probe(p, steps=STEPS, args=["--hoisted"])
    assert _top(rep) == ["stale-batch"], _errors(rep)
    assert rep.findings[0].evidence["rows"] == 32 and rep.findings[0].evidence["source_shape"] == [6001]
    for ok_args in ([], ["--full"]):
        ok = run_probe(p, steps=STEPS, args=ok_args)
        assert "stale-batch" not in [f.id for f in ok.findings], (ok_args, _errors(ok))


FULL_BATCH = """
import torch
import torch.nn as nn

torch.manual_seed(0)
x = torch.randn(256, 10)
y = (x.sum(1) > 0).long()
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(100):  # full-batch training: the same tensor every step is the intent
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
def test_full_batch_training_is_not_stale(tmp_path):
    rep = run_probe(_write(tmp_path, "full.py", FULL_BATCH), steps=STEPS)
    assert rep.verdict == "healthy", _errors(rep)


# ------------------------------------------------------------------ class imbalance: collapse vs a learned minority
IMBALANCE = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

weighted = "--weighted" in sys.argv
g = torch.Generator().manual_seed(0)
torch.manual_seed(0)
y = (torch.rand(4096, generator=g) < 0.05).long()
x = torch.randn(4096, 12, generator=g)
x[y == 1, :4] += 1.5
counts = torch.bincount(y, minlength=2).float()
crit = nn.CrossEntropyLoss(weight=counts.sum() / (2 * counts) if weighted else None)
model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 2))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(2):
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True):
        loss = crit(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
def test_imbalance_collapse_and_weighted_twin(tmp_path):
    p = _write(tmp_path, "imb.py", IMBALANCE)
    rep = run_probe(p, steps=STEPS)
    assert _top(rep) == ["class-imbalance-collapse"], _errors(rep)
    assert rep.findings[0].evidence["minority_recall"] <= class_imbalance_collapse.MINORITY_RECALL_MAX
    fixed = run_probe(p, steps=STEPS, args=["--weighted"])
    assert "class-imbalance-collapse" not in [i for i, _ in _errors(fixed)], _errors(fixed)


# ------------------------------------------------------------------ root cause ahead of its consequences, end to end
RAW_PIXELS = """
import sys
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

scale = 1.0 if "--normalized" in sys.argv else 255.0
torch.manual_seed(0)
protos = torch.rand(10, 784)
labels = torch.randint(0, 10, (1024,))
imgs = ((0.5 * protos[labels] + 0.5 * torch.rand(1024, 784)) * 255).round() / 255 * scale
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
for epoch in range(3):
    for xb, yb in DataLoader(TensorDataset(imgs, labels), batch_size=64, shuffle=True):
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
"""


@pytest.mark.slow
def test_unnormalized_inputs_named_before_their_consequences(tmp_path):
    p = _write(tmp_path, "pixels.py", RAW_PIXELS)
    rep = run_probe(p, steps=STEPS)
    assert _top(rep) == ["unnormalized-inputs"], _errors(rep)
    later = [f for f in rep.findings[1:] if f.id in ("lr-too-high", "dead-relu", "exploding-gradients")]
    assert all(f.evidence.get("consequence_of") == "unnormalized-inputs" for f in later)
    fixed = run_probe(p, steps=STEPS, args=["--normalized"])
    assert fixed.verdict == "healthy", _errors(fixed)
