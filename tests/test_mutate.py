"""Mutation operators (issue 12): each plants its bug in a host that has the pattern, leaves a look-alike that
is right alone, and declares catalogue ids; the plain-run judge reads metrics and seed noise."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from traintriage.catalogue import load_catalogue
from traintriage.mutate import OPERATORS, by_id, mutate_source
from traintriage.mutate.plainrun import parse_metric, run_plain, worse_beyond_noise

HOST = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    def main():
        torch.manual_seed(0)
        x = torch.randn(512, 8) * 3 + 1
        y = (x[:, 0] > 1).long()
        x = (x - x.mean(0)) / x.std(0)
        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 2))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
        criterion = nn.CrossEntropyLoss(ignore_index=-100)
        accum_steps = 2
        for epoch in range(4):
            model.train()
            for i, (xb, yb) in enumerate(loader):
                loss = criterion(model(xb), yb) / accum_steps
                loss.backward()
                if i % accum_steps == 1:
                    optimizer.step()
                    optimizer.zero_grad()
            scheduler.step()
            model.eval()
            with torch.no_grad():
                acc = (model(x).argmax(1) == y).float().mean().item()
        print(f"final loss {loss.item():.4f} acc {acc:.3f}")

    if __name__ == "__main__":
        main()
    """)

# Right code that looks like each bug's neighbourhood: none of the operators below may touch it.
LOOKALIKE = textwrap.dedent("""\
    import torch
    def main(trainer, model, loader):
        trainer.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=100)
        for epoch in range(3):
            for xb, yb in loader:
                out = model(xb)
                loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(out), yb) / len(xb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
    """)
NOT_ON_LOOKALIKE = ["train-to-eval", "drop-train-after-eval", "scheduler-per-batch", "drop-accum-scaling",
                    "sigmoid-into-bce-logits", "softmax-into-ce", "ce-to-nll", "count-padding", "adamw-to-adam",
                    "raw-inputs", "raw-targets", "unshift-targets"]

# What each operator's mutant of HOST must contain (a fragment of the unparsed source).
PLANTED = {
    "drop-zero-grad": lambda m: "zero_grad" not in m,
    "zero-grad-after-backward": lambda m: "loss.backward()\n    optimizer.zero_grad()" in _flat(m),
    "step-before-backward": lambda m: _flat(m).index("optimizer.step()") < _flat(m).index("loss.backward()"),
    "softmax-into-ce": lambda m: "criterion(torch.softmax(model(xb), dim=-1), yb)" in m,
    "lr-x1e-4": lambda m: "lr=1e-2 * 0.0001" in m or "lr=0.01 * 0.0001" in m,
    "lr-x100": lambda m: "lr=0.01 * 100" in m,
    "rewrap-loss-item": lambda m: "loss = torch.tensor(loss.item(), requires_grad=True)" in m,
    "train-to-eval": lambda m: "model.train()" not in m,
    "drop-train-after-eval": lambda m: "model.train()" not in m and "model.eval()" in m,
    "ce-to-nll": lambda m: "torch.nn.NLLLoss(ignore_index=-100)" in m,
    "drop-accum-scaling": lambda m: "criterion(model(xb), yb)\n" in m and "/ accum_steps" not in m,
    "count-padding": lambda m: "nn.CrossEntropyLoss()" in m,
    "optimizer-misses-last-layer": lambda m: "list(model.parameters())[:-2]" in m,
    "raw-inputs": lambda m: "x.std(0)" not in m,
    "scheduler-per-batch": lambda m: "optimizer.zero_grad()\n    scheduler.step()" in _flat(m),
    "stale-batch": lambda m: "_tt_fixed_batch = next(iter(loader))" in m,
    "bad-init-std1": lambda m: "torch.nn.init.normal_(_tt_p, std=1.0)" in m,
    "adamw-to-adam": lambda m: "torch.optim.Adam(model.parameters()" in m,
    "high-dropout": lambda m: "nn.ReLU(), nn.Dropout(0.75), nn.Linear(32, 2)" in m,
}
NOT_ON_HOST = {"sigmoid-into-bce-logits", "raw-targets", "unshift-targets", "unmask-prompt",  # not in HOST
               "invert-padding-mask", "softmax-over-queries", "drop-positional-add", "heads-no-transpose"}


def _flat(src: str) -> str:
    """Source with each line's indentation cut to 4 spaces of nesting-independent text, for order checks."""
    return "\n".join("    " + ln.strip() if ln.strip() else "" for ln in src.splitlines())


def test_registry_ids_are_unique_and_produce_catalogue_ids():
    ids = [o.NAME for o in OPERATORS]
    assert len(ids) == len(set(ids)) and len(ids) >= 20
    cat = set(load_catalogue())
    for o in OPERATORS:
        assert o.PRODUCES and set(o.PRODUCES) <= cat, o.NAME
        assert (o.__doc__ or "").strip(), f"{o.NAME} says its bug in its docstring"
    assert set(PLANTED) | NOT_ON_HOST == set(ids), "every operator is tested on HOST"


@pytest.mark.parametrize("op_id", sorted(PLANTED))
def test_operator_plants_its_bug_in_the_host(op_id: str):
    mutant = mutate_source(HOST, by_id(op_id))
    assert mutant is not None, f"{op_id} did not apply"
    ast.parse(mutant)
    assert PLANTED[op_id](mutant), mutant


@pytest.mark.parametrize("op_id", sorted(NOT_ON_HOST))
def test_operator_skips_a_host_without_its_pattern(op_id: str):
    assert mutate_source(HOST, by_id(op_id)) is None


@pytest.mark.parametrize("op_id", NOT_ON_LOOKALIKE)
def test_operator_leaves_right_lookalike_code_alone(op_id: str):
    assert mutate_source(LOOKALIKE, by_id(op_id)) is None


def test_patterns_of_the_other_operators():
    bce = "import torch\nloss = torch.nn.BCEWithLogitsLoss()(out, y)\n"
    assert "torch.sigmoid(out)" in mutate_source(bce, by_id("sigmoid-into-bce-logits"))
    reg = "targets = (price - price.mean()) / price.std()\n"
    assert mutate_source(reg, by_id("raw-targets")).strip() == "targets = price"
    # standardised in place, the final metric on `y` would change units with the mutant: not planted
    assert mutate_source("y = (y - y.mean()) / y.std()\n", by_id("raw-targets")) is None
    assert mutate_source("x = (x - x.mean(0)) / x.std(0)\n", by_id("raw-inputs")).strip() == "x = x"
    sort = "y = seq[:, 1:]\ny[:, :n - 1] = -1\nloss = F.cross_entropy(p, y, ignore_index=-1)\n"
    assert mutate_source(sort, by_id("unmask-prompt")).splitlines()[1].startswith("loss =")
    # the default ignore_index states no intent; a label set to another value is not the mask
    assert mutate_source(sort.replace("-1)", "-100)"), by_id("unmask-prompt")) is None
    assert mutate_source(sort.replace("= -1\n", "= 0\n"), by_id("unmask-prompt")) is None
    lm = "x = data[:, :-1]\ny = data[:, 1:]\nyb = torch.stack([d[i + 1:i + 1 + T] for i in ix])\n"
    m = mutate_source(lm, by_id("unshift-targets"))
    assert "y = data[:, :-1]" in m and "d[i:i + T]" in m


def test_metric_parsing_and_seed_noise():
    # an amount with a currency sign is the metric (else the last line without one falls back to a training
    # loss, whose units a raw-targets mutant changes)
    assert parse_metric("epoch 3 loss 0.01\nfinal rmse $23,456 (price std $95,000)\n").model_dump() == {
        "name": "rmse", "value": 23456.0, "higher_better": False}
    assert parse_metric("epoch 1 loss 3\nfinal loss 0.5 val_acc 0.91\n").model_dump() == {
        "name": "val_acc", "value": 0.91, "higher_better": True}
    assert parse_metric("final loss 0.1234 rmse 12,345 (price std 100)").name == "rmse"
    assert parse_metric("done\n") is None
    assert worse_beyond_noise([0.90, 0.91, 0.92], 0.85, True)
    assert not worse_beyond_noise([0.90, 0.91, 0.92], 0.885, True)  # within the spread below the worst seed
    assert worse_beyond_noise([0.1, 0.12], float("nan"), False)
    assert not worse_beyond_noise([0.1, 0.12], 0.09, False)


@pytest.mark.slow
def test_plain_run_offsets_the_scripts_seed(tmp_path: Path):
    s = tmp_path / "s.py"
    s.write_text("import torch\ntorch.manual_seed(0)\nprint(f'final loss {torch.rand(1).item():.6f}')\n")
    a, b, a2 = (run_plain(s, seed_offset=k) for k in (0, 1, 0))
    assert a.metric.value == a2.metric.value != b.metric.value


@pytest.mark.slow
def test_hosts_are_not_triaged_when_the_eval_gate_does_it(tmp_path: Path):
    """CI's mutant gate (--no-host-triage): the host's seed runs still measure the noise, no triage of it."""
    from traintriage.mutate.matrix import run_host

    s = tmp_path / "train.py"
    s.write_text("import torch\ntorch.manual_seed(0)\nprint(f'final loss {torch.rand(1).item():.6f}')\n")
    row, cells = run_host(s, [], triage_host=False)
    assert row.usable and len(row.seeds) == 3 and len(set(row.seeds)) == 3
    assert row.verdict is None and row.false_alarms == [] and cells == []


@pytest.mark.slow
def test_plain_run_keeps_dataloader_workers_alive(tmp_path: Path):
    """Workers seed numpy with a list of four uint32: the seed offset must pass it through (it killed every
    worker of the real hosts with num_workers > 0, which the matrix then listed as unusable)."""
    s = tmp_path / "s.py"
    s.write_text("import torch\nfrom torch.utils.data import DataLoader, TensorDataset\ntorch.manual_seed(0)\n"
                 "ds = TensorDataset(torch.arange(8.0))\n"
                 "v = sum(float(b[0].sum()) for b in DataLoader(ds, batch_size=4, num_workers=1))\n"
                 "print(f'final loss {v:.1f}')\n")
    r = run_plain(s, seed_offset=1)
    assert r.returncode == 0 and r.metric.value == 28.0, r.stderr_tail[-500:]
