"""traintriage.watch: each recorded number against a plain PyTorch reference; hooks removed on exit; the
file is read back by `traintriage logs` when that reader exists; HF / Lightning callbacks when installed."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import traintriage
from framework_runs import hf_train, lightning_train
from traintriage.watcher import read_watch

REPO = Path(__file__).resolve().parent.parent


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    return model, x, y


def _reference(model, x, y, lr, steps):
    """The same loop without traintriage, measuring the same quantities by hand."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rows = []
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        params = list(model.parameters())
        grad = torch.cat([p.grad.flatten() for p in params]).norm().item()
        g0 = torch.cat([p.grad.flatten() for p in model[0].parameters()]).norm().item()
        before = torch.cat([p.detach().flatten() for p in params]).clone()
        opt.step()
        after = torch.cat([p.detach().flatten() for p in params])
        rows.append(
            {
                "loss": loss.item(),
                "grad_norm": grad,
                "grad_norm/0": g0,
                "param_norm": after.norm().item(),
                "update_norm": (after - before).norm().item(),
                "update_ratio": (after - before).norm().item() / before.norm().item(),
            }
        )
    return rows


def test_watch_matches_a_plain_pytorch_reference(tmp_path):
    model, x, y = _setup()
    ref = _reference(model, x, y, lr=0.05, steps=4)

    model, x, y = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    out = tmp_path / "w.jsonl"
    with traintriage.watch(model, opt, path=out) as w:
        for _ in range(4):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.log(acc=0.25)
    rows = list(read_watch(out))
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for got, want in zip(rows, ref, strict=True):
        assert got["lr"] == 0.05 and got["acc"] == 0.25
        for k, v in want.items():
            assert math.isclose(got[k], v, rel_tol=1e-5, abs_tol=1e-7), (k, got[k], v)


def test_closure_style_step_sees_this_steps_gradient(tmp_path):
    """Lightning and LBFGS run forward/backward inside optimizer.step(closure): after the pre-hook."""
    model, x, y = _setup()
    ref = _reference(model, x, y, lr=0.05, steps=3)
    model, x, y = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def closure():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    with traintriage.watch(model, opt, path=tmp_path / "w.jsonl"):
        for _ in range(3):
            opt.step(closure)
    rows = list(read_watch(tmp_path / "w.jsonl"))
    for got, want in zip(rows, ref, strict=True):
        for k in ("loss", "grad_norm", "update_norm"):
            assert math.isclose(got[k], want[k], rel_tol=1e-5), (k, got[k], want[k])


def test_every_n_keeps_loss_each_step_and_norms_every_n(tmp_path):
    model, x, y = _setup()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    out = tmp_path / "w.jsonl"
    with traintriage.watch(model, opt, path=out, every=3, per_module=False):
        for _ in range(7):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    rows = {r["step"]: r for r in read_watch(out)}
    assert sorted(rows) == list(range(1, 8))
    assert all("loss" in r and "lr" in r for r in rows.values())
    assert {s for s, r in rows.items() if "update_ratio" in r} == {1, 3, 6}
    assert not any(k.startswith("grad_norm/") for r in rows.values() for k in r)


def test_explicit_loss_wins_and_lr_per_group(tmp_path):
    model, x, y = _setup()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.5}], lr=0.1
    )
    out = tmp_path / "w.jsonl"
    with traintriage.watch(model, opt, path=out) as w:
        for i in range(3):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.log(loss=100.0 + i)
    rows = list(read_watch(out))
    assert [r["loss"] for r in rows] == [100.0, 101.0, 102.0]
    assert all(r["lr"] == 0.1 and r["lr/1"] == 0.5 for r in rows)


def test_nan_loss_is_recorded_not_dropped(tmp_path):
    model, x, y = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out = tmp_path / "w.jsonl"
    with traintriage.watch(model, opt, path=out):
        loss = ((model(x) - y) ** 2).mean() * float("nan")
        opt.zero_grad()
        loss.backward()
        opt.step()
    (row,) = read_watch(out)
    assert math.isnan(row["loss"])


def test_hooks_and_backward_are_restored_and_user_results_unchanged(tmp_path):
    backward_before = torch.Tensor.backward
    model, x, y = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with traintriage.watch(model, opt, path=tmp_path / "w.jsonl"):
        for _ in range(3):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    assert torch.Tensor.backward is backward_before
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    watched = [p.detach().clone() for p in model.parameters()]

    model, x, y = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    for a, b in zip(watched, model.parameters(), strict=True):
        assert torch.equal(a, b.detach()), "watching changed the training"


def test_importing_traintriage_stays_torch_free_and_watch_is_exported():
    code = (
        "import sys, traintriage\n"
        "assert 'torch' not in sys.modules\n"
        "assert 'watch' in traintriage.__all__\n"
        "w = traintriage.watch\n"
        "assert callable(w)\n"
        "import traintriage.watcher\n"
        "assert traintriage.watch is traintriage.watcher.watch\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_watch_file_reads_back_through_traintriage_logs(tmp_path):
    from traintriage.logs import read_run

    model, x, y = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    out = tmp_path / "traintriage_watch.jsonl"
    with traintriage.watch(model, opt, path=out):
        for _ in range(5):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    run = read_run(out)
    for name in ("loss", "lr", "grad_norm", "param_norm", "update_ratio"):
        assert name in run.series, (name, list(run.series))
    assert run.series["loss"].steps == [1, 2, 3, 4, 5]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")  # third-party deprecation noise
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
def test_hf_trainer_callback_records_steps(tmp_path):
    hf_train(tmp_path)
    rows = list(read_watch(tmp_path / "traintriage_watch.jsonl"))
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all("loss" in r and "grad_norm" in r and "update_ratio" in r for r in rows)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")  # third-party deprecation noise
@pytest.mark.skipif(
    importlib.util.find_spec("lightning") is None and importlib.util.find_spec("pytorch_lightning") is None,
    reason="lightning is not installed",
)
def test_lightning_callback_records_steps(tmp_path):
    lightning_train(tmp_path, steps=5, logger=False)
    rows = list(read_watch(tmp_path / "traintriage_watch.jsonl"))
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all("loss" in r and "grad_norm/net" in r for r in rows)
