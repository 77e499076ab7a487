"""Probe overhead: instrumented optimizer-step time over plain step time, measured in one process.

    python benchmarks/bench_probe_overhead.py [--steps 60] [--width 512] [--depth 4] [--batch 128] [--probe]

Plain steps run first; then the harness's hooks (forward hooks, optimizer step hooks, backward wrapper,
loss patches, per-step foreach norms and one sync) are installed exactly as in a probe's child and the
same loop runs again. Sampled steps (activation statistics) are included. With --probe it also times
a whole `run_probe` of a small script (child start-up, torch import, 40 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def loop(model, opt, x, y, steps, F):  # noqa: ANN001, N803
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--probe", action="store_true", help="also time a whole run_probe of a small script")
    a = ap.parse_args()
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    layers = []
    for _ in range(a.depth):
        layers += [nn.Linear(a.width, a.width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(a.width, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = torch.randn(a.batch, a.width), torch.randint(0, 10, (a.batch,))
    loop(model, opt, x, y, 5, F)  # warm-up
    plain = loop(model, opt, x, y, a.steps, F)

    from traintriage.probe import harness

    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-"))
    (tmp / "sandbox").mkdir()
    rec = harness.Recorder({"mode": "observe", "steps": 10**9, "evidence": str(tmp / "ev.jsonl"),
                            "sandbox": str(tmp / "sandbox")})
    harness.install(rec)
    F = sys.modules["torch.nn.functional"]  # the patched module attribute, as user code sees it
    loop(model, opt, x, y, 5, F)
    inst = loop(model, opt, x, y, a.steps, F)
    p_med, i_med = statistics.median(plain), statistics.median(inst)
    out = {
        "model": f"MLP {a.depth}x{a.width}, batch {a.batch}, Adam",
        "params": sum(p.numel() for p in model.parameters()),
        "plain_step_ms": round(p_med * 1e3, 3),
        "instrumented_step_ms": round(i_med * 1e3, 3),
        "overhead_ratio_median": round(i_med / p_med, 3),
        "overhead_ratio_mean": round(statistics.mean(inst) / statistics.mean(plain), 3),
        "evidence_bytes": os.path.getsize(tmp / "ev.jsonl"),
    }
    if a.probe:
        from traintriage.probe import run_probe

        script = Path(__file__).resolve().parents[1] / "tests" / "probe_scripts" / "classify.py"
        t = time.perf_counter()
        rep = run_probe(script, steps=40)
        out["probe_seconds"] = round(time.perf_counter() - t, 2)
        out["probe_verdict"] = rep.verdict
    print(json.dumps(out))
    print(f"instrumented/plain step time: {out['overhead_ratio_median']:.2f}x "
          f"({out['instrumented_step_ms']} ms vs {out['plain_step_ms']} ms)")


if __name__ == "__main__":
    main()
