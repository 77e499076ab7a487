"""loss-still-falling / too-few-epochs on real log files written by real writers (csv, TensorBoard's SummaryWriter)
from real training runs: the run stopped mid-descent (broken), the same run trained long enough (clean), a noisy
plateau and a cosine decay to zero (healthy look-alikes); then the CLI and the MCP log tool on the broken file."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from traintriage.logs import Run, Series, diagnose, read_run, role_for


def run_of(**series) -> Run:
    return Run(path="synthetic", format="jsonl", series={
        name: Series(name=name, role=role_for(name), steps=list(range(len(v))), values=[float(x) for x in v])
        for name, v in series.items()})


def _train(steps, lr=0.02, batch=128, sched=None, log=None):
    """A small MLP on fresh samples of a noisy linear teacher (5 classes): the training loss has a floor it
    converges to. `log(step, loss, lr)` is called after every optimizer step."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    w = torch.randn(20, 5)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if sched == "cosine" else None
    for step in range(steps):
        x = torch.randn(batch, 20)
        y = (x @ w + torch.randn(batch, 5)).argmax(1)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        log(step, loss.item(), opt.param_groups[0]["lr"])
        if sch is not None:
            sch.step()


def _csv(path, steps, **kw):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "lr"])
        _train(steps, log=lambda s, loss, lr: w.writerow([s, loss, lr]), **kw)
    return path


def _tensorboard(folder, steps, **kw):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(folder))

    def log(s, loss, lr):
        w.add_scalar("train/loss", loss, s)
        w.add_scalar("train/lr", lr, s)

    _train(steps, log=log, **kw)
    w.close()
    return folder


def _found(path):
    rep = diagnose(read_run(str(path)))
    return rep, [s for s in rep.symptoms if s.id == "loss-still-falling"], [f for f in rep.findings
                                                                            if f.id == "too-few-epochs"]


@pytest.fixture(scope="module")
def short_csv(tmp_path_factory):
    return _csv(tmp_path_factory.mktemp("short") / "metrics.csv", 400)


@pytest.mark.slow
def test_a_run_stopped_mid_descent_is_too_few_epochs(short_csv):
    rep, sym, found = _found(short_csv)
    assert len(sym) == 1 and len(found) == 1, rep.symptoms
    f = found[0]
    assert f.severity == "warning" and rep.verdict == "healthy"  # stopping early can be intended: never broken
    ev = f.evidence
    assert ev["end_slope"] < 0 and ev["rate_share"] >= 0.5 and ev["t"] < -3 and ev["lr_last"] == ev["lr_peak"]
    assert "per step" in f.message and "train longer" in f.message


@pytest.mark.slow
@pytest.mark.parametrize(("name", "steps", "kw"), [
    ("long-enough", 4000, {}),  # the same run, ten times the steps: it bent and flattened
    ("noisy-plateau", 1500, {"lr": 0.3, "batch": 16}),  # batch noise, no trend at the end
    ("cosine-to-zero", 400, {"lr": 0.05, "sched": "cosine"}),  # the schedule ran to its end
])
def test_healthy_look_alikes_are_clean(tmp_path, name, steps, kw):
    path = _tensorboard(tmp_path / name, steps, **kw) if name == "noisy-plateau" else \
        _csv(tmp_path / f"{name}.csv", steps, **kw)
    rep, sym, found = _found(path)
    assert sym == [] and found == [], rep.symptoms


def test_a_schedule_decayed_to_zero_is_not_a_cut():
    """The same straight descent is a cut with a constant LR, and the schedule's end with an LR decayed to ~0."""
    loss = 2.0 - 0.003 * np.arange(300) + 0.01 * np.random.default_rng(0).standard_normal(300)
    flat_lr = run_of(loss=loss, lr=np.full(300, 1e-3))
    decayed = run_of(loss=loss, lr=1e-3 * 0.5 * (1 + np.cos(np.pi * np.arange(300) / 300)))
    assert "loss-still-falling" in {s.id for s in diagnose(flat_lr).symptoms}
    assert "loss-still-falling" not in {s.id for s in diagnose(decayed).symptoms}
    # and an exponential approach run to ~3 time constants has bent: its end falls at 30 % of the middle's rate
    bent = run_of(loss=0.3 + 2.0 * np.exp(-np.arange(300) / 100.0))
    assert "loss-still-falling" not in {s.id for s in diagnose(bent).symptoms}


@pytest.mark.slow
def test_cli_and_mcp_reach_it(short_csv):
    p = subprocess.run([sys.executable, "-m", "traintriage", "logs", str(short_csv), "--json"], capture_output=True,
                       text=True, timeout=120)
    payload = json.loads(p.stdout)
    assert p.returncode == 0 and payload["verdict"] == "healthy"
    assert "too-few-epochs" in {f["id"] for f in payload["findings"]}
    assert "loss-still-falling" in {s["id"] for s in payload["symptoms"]}

    import anyio
    from mcp import Client
    from traintriage.server import build_server

    async def call(server):
        async with Client(server) as c:
            return await c.call_tool("read_run_logs", {"path": str(short_csv)})

    res = anyio.run(call, build_server([short_csv.parent]))
    assert not res.is_error, res.content
    rep = res.structured_content["report"]
    assert "too-few-epochs" in {f["id"] for f in rep["findings"]}
