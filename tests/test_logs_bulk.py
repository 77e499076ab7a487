"""The JSONL and CSV readers' bulk paths give the Run their line-by-line paths give (VECTORIZED = False, the
previous implementation kept as the reference): on files written by the real writers, on long generated logs
(past the downsampler's buffer, so the sampled points must match too) and on logs with malformed lines."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from traintriage.logs import diagnose, read_run
from traintriage.logs.readers import csv_reader, jsonl

DATA = Path(__file__).parent / "data" / "logs"


def _same(a, b) -> None:
    assert a.skipped == b.skipped
    assert (a.skipped_lines, a.first_skip) == (b.skipped_lines, b.first_skip)
    assert a.metadata == b.metadata
    assert list(a.series) == list(b.series)  # same order too
    for name, s in a.series.items():
        t = b.series[name]
        assert s.steps == t.steps, name
        for x, y in ((s.values, t.values), (s.wall_times or [], t.wall_times or [])):
            assert len(x) == len(y), name
            for u, v in zip(x, y, strict=True):  # bit-identical (nan == nan, -0.0 != 0.0)
                assert (math.isnan(u) and math.isnan(v)) or (u == v and math.copysign(1, u) == math.copysign(1, v)), name
        assert (s.wall_times is None) == (t.wall_times is None), name


def _both(path: Path, module, monkeypatch, bulk_share: float = 0.0, **kw):
    """Read `path` both ways; they must agree, and the bulk path must have read at least `bulk_share` of the
    lines (else the test would compare the row path with itself)."""
    monkeypatch.setattr(module, "VECTORIZED", False)
    slow = read_run(path, **kw)
    monkeypatch.setattr(module, "VECTORIZED", True)
    bulk = [0]
    if module is jsonl:
        orig = jsonl._emit

        def counted(cols, a, b, *rest):  # noqa: ANN001, ANN202
            bulk[0] += b - a
            return orig(cols, a, b, *rest)

        monkeypatch.setattr(jsonl, "_emit", counted)
    else:
        orig = csv_reader._block

        def counted(chunk, *rest):  # noqa: ANN001, ANN202
            done = orig(chunk, *rest)
            bulk[0] += chunk.count(b"\n") if done else 0
            return done

        monkeypatch.setattr(csv_reader, "_block", counted)
    fast = read_run(path, **kw)
    lines = path.read_bytes().count(b"\n")
    assert bulk[0] >= bulk_share * lines, (bulk[0], lines)
    _same(fast, slow)
    assert diagnose(fast).model_dump(exclude={"seconds"}) == diagnose(slow).model_dump(exclude={"seconds"})
    return fast


def _watch_log(path: Path) -> None:
    """A real traintriage_watch.jsonl: traintriage.watch on a few real SGD steps (what the HF / Lightning
    callbacks write too)."""
    import torch
    from traintriage.watcher import watch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    with watch(model, opt, path=str(path)) as w:
        for _ in range(40):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            w.log(loss=loss)


@pytest.mark.parametrize("block", [1 << 20, 700, 64])
def test_jsonl_real_watch_file(tmp_path, monkeypatch, block):
    f = tmp_path / "traintriage_watch.jsonl"
    _watch_log(f)
    monkeypatch.setattr(jsonl, "BLOCK", block)
    run = _both(f, jsonl, monkeypatch, 0.8)
    assert len(run.series["loss"]) >= 30 and "grad_norm" in run.series


@pytest.mark.parametrize("block", [1 << 20, 500, 64])
def test_csv_real_lightning_csvlogger(tmp_path, monkeypatch, block):
    body = (DATA / "lightning_csvlogger_metrics.csv").read_bytes()
    head, rows = body.split(b"\n", 1)
    f = tmp_path / "metrics.csv"
    f.write_bytes(head + b"\n" + rows * 5)  # a resumed run's repeated steps too
    monkeypatch.setattr(csv_reader, "BLOCK", block)
    run = _both(f, csv_reader, monkeypatch, 0.9)
    assert {"train_loss_step", "val_loss", "val_acc"} <= set(run.series)


def _jsonl_lines(rng: random.Random, n: int, bad: float) -> list[str]:
    out = []
    for i in range(n):
        rec = {"step": i, "loss": 2.0 / (1 + i * 1e-3) + rng.random() * 0.01, "lr": 3e-4, "grad_norm": rng.random(),
               "_timestamp": 1.7e9 + i, "train": {"acc": rng.random()}}
        r = rng.random()
        if r < bad:
            k = rng.randrange(14)
            line = json.dumps(rec)
            line = [line[: len(line) // 2], line.replace(": 0.", ": .", 1), line.replace(str(i), "1e999", 1),
                    line.replace(str(i), f"{i}.0", 1), line.replace(str(i), "99999999999999999999", 1),
                    line.replace('"lr": 0.0003', '"lr": NaN'), line.replace('"lr": 0.0003', '"lr": "1e-3"'),
                    line.replace('"lr": 0.0003', '"lr": null'), "", "   ", "[1, 2]", '{"step": 5}',
                    line.replace(", ", ",").replace(": ", ":"), line.replace('"lr": 0.0003', '"lr": 1' + "0" * 400),
                    ][k]
        elif r < 2 * bad:
            line = json.dumps({"step": i, "val_loss": rng.random(), "epoch": i // 100})  # another layout
        else:
            line = json.dumps(rec)
        out.append(line)
    return out


@pytest.mark.parametrize("seed,bad,block", [(0, 0.0, 1 << 20), (1, 0.02, 1 << 20), (2, 0.2, 4096), (3, 0.4, 333)])
def test_jsonl_generated_logs(tmp_path, monkeypatch, seed, bad, block):
    rng = random.Random(seed)
    n = 70_000 if bad < 0.1 else 3000  # past the downsampler's buffer (65,536 points) when mostly clean
    f = tmp_path / "m.jsonl"
    f.write_text("\n".join(_jsonl_lines(rng, n, bad)) + ("\n" if seed % 2 else ""))
    monkeypatch.setattr(jsonl, "BLOCK", block)
    run = _both(f, jsonl, monkeypatch, 0.9 - 2 * bad)
    assert run.series["loss"].wall_times is not None and "train/acc" in run.series


def _csv_lines(rng: random.Random, n: int, bad: float) -> list[str]:
    out = ["epoch,lr-AdamW,step,train_loss_step,grad_norm,val_loss,val_acc"]
    for i in range(n):
        row = [str(i // 100), repr(3e-4 * rng.random()), str(i), repr(rng.random()), f"{rng.random():.4f}", "", ""]
        if i % 50 == 0:
            row = [str(i // 100), "", str(i), "", "", repr(rng.random()), repr(rng.random())]
        r = rng.random()
        if r < bad:
            k = rng.randrange(12)
            if k == 0:
                row = row[:3]
            elif k == 1:
                row[2] = rng.choice(["abc", "1e999", "99999999999999999999", "9007199254740993", "", " 5", "5.0"])
            elif k == 2:
                row[3] = rng.choice(["nan", "inf", " ", "x", "1_0", "-0", ".5"])
            elif k == 3:
                row = []
            elif k == 4:
                row[4] = "\t0.5 "
            elif k == 5:
                row[3] = '"0.5"'  # a quote: the csv module reads on from this block
            elif k == 6:
                row[1] = "1,5"
            else:
                row[5] = rng.choice(["0", "1e-3", "NaN"])
        out.append(",".join(row))
    return out


@pytest.mark.parametrize("seed,bad,block", [(0, 0.0, 1 << 20), (1, 0.01, 1 << 20), (2, 0.1, 2048), (3, 0.3, 300)])
def test_csv_generated_logs(tmp_path, monkeypatch, seed, bad, block):
    rng = random.Random(seed)
    n = 70_000 if bad < 0.05 else 3000
    f = tmp_path / "metrics.csv"
    f.write_text("\n".join(_csv_lines(rng, n, bad)) + ("\n" if seed % 2 else ""))
    monkeypatch.setattr(csv_reader, "BLOCK", block)
    _both(f, csv_reader, monkeypatch, 0.9 if not bad else 0.0)  # a quote sends the rest to the csv module


@pytest.mark.parametrize("data", [
    b"step,loss\n1,0.5\n2\n",
    b"step,loss\n1,0.5\n\n2,0.4\n3,0.3\r\n4,0.2\n",
    b"step,loss\n1,0.5\n2,\xff\n",
    b"step,loss\n1,0.5\n2,0\x001\n",
    b"\nstep,loss\n1,0.5\n",
    b"a,a,b\n1,2,3\n4,5,6\n",
    b"Wall time,Step,Value\n1700000000.5,1,0.5\nx,2,0.4\n",
    b"loss,acc\n0.5,0.1\n0.4,0.2\n",
    b"step\tloss\n1\t0.5\n",
])
def test_csv_edge_cases(tmp_path, monkeypatch, data):
    f = tmp_path / "m.csv"
    f.write_bytes(data)
    monkeypatch.setattr(csv_reader, "VECTORIZED", False)
    try:
        slow = read_run(f)
    except Exception as e:  # noqa: BLE001 - the same error either way
        monkeypatch.setattr(csv_reader, "VECTORIZED", True)
        with pytest.raises(type(e)) as got:
            read_run(f)
        assert str(got.value) == str(e)
        return
    monkeypatch.setattr(csv_reader, "VECTORIZED", True)
    _same(read_run(f), slow)
