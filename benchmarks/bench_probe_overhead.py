"""Probe overhead: CPU time per training step under the probe's hooks over the same step without them.

    python benchmarks/bench_probe_overhead.py [--rounds 5] [--steps 20] [--models mlp,transformer]

Two models (issue 15's goals): an MLP with 600 parameter tensors (300 Linear layers; per-tensor costs dominate)
and a ~23M-parameter transformer encoder (compute dominates). Each round runs one fresh process per mode,
plain then probe, interleaved (so load on the machine falls on both alike); a process builds the model with a
fixed seed, warms up, and times each step's CPU time (time.process_time, one intra-op thread). In probe mode
the harness's hooks are installed exactly as in a probe's child, every check on (the shared recordings and
every detector's Recording), observe mode, before the model and optimizer are built; sampled steps (step 0, 1
and the last) are in the timed steps as in a real probe. Printed per model: min and median step CPU time of
each mode over all rounds and steps, and the probe/plain ratios of both. Goals: <= 1.25x (MLP), <= 1.10x
(transformer), on the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"mlp": 1.25, "transformer": 1.10}


def build(model: str):  # noqa: ANN201
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    if model == "mlp":  # 300 Linear layers = 600 parameter tensors
        width, depth, batch = 64, 300, 64
        layers = []
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        net = nn.Sequential(*layers, nn.Linear(width, 10))
        x, y = torch.randn(batch, width), torch.randint(0, 10, (batch,))
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        return net, opt, x, y
    # ~23M: 6 encoder layers of d_model 512 / ff 2048 (19M) plus an 8000 x 512 embedding and output (4M)
    vocab, d, seq, batch = 8000, 512, 64, 8

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            layer = nn.TransformerEncoderLayer(d, 8, 2048, dropout=0.1, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
            self.out = nn.Linear(d, vocab)

        def forward(self, t):  # noqa: ANN001, ANN202
            return self.out(self.enc(self.emb(t))).reshape(-1, vocab)

    net = LM()
    x = torch.randint(0, vocab, (batch, seq))
    y = torch.randint(0, vocab, (batch * seq,))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-4)
    return net, opt, x, y


def child(model: str, mode: str, steps: int, warmup: int) -> None:
    import torch

    torch.set_num_threads(1)
    if mode == "probe":
        from traintriage.probe import harness

        tmp = Path(tempfile.mkdtemp(prefix="tt-bench-"))
        (tmp / "sandbox").mkdir()
        rec = harness.Recorder({"mode": "observe", "steps": warmup + steps, "evidence": str(tmp / "ev.jsonl"),
                                "sandbox": str(tmp / "sandbox")})
        harness.install(rec)
    F = sys.modules["torch.nn.functional"]  # noqa: N806 - the (patched) module attribute, as user code sees it
    net, opt, x, y = build(model)
    times = []
    for i in range(warmup + steps):
        t = time.process_time()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        try:
            opt.step()
        except BaseException as e:  # noqa: BLE001 - the probe's StopProbe after its last step (the step itself has run)
            if type(e).__name__ != "StopProbe":
                raise
        if i >= warmup:
            times.append(time.process_time() - t)
    print(json.dumps({"params": sum(p.numel() for p in net.parameters()),
                      "tensors": sum(1 for _ in net.parameters()), "times": times}))


def run_child(model: str, mode: str, steps: int, warmup: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "tools"))
    out = subprocess.run([sys.executable, __file__, "--child", model, mode, str(steps), str(warmup)],
                         capture_output=True, text=True, env=env, check=True, timeout=1200)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per process (after --warmup)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--models", default="mlp,transformer")
    a = ap.parse_args(argv)
    ok = True
    for model in a.models.split(","):
        got = {"plain": [], "probe": []}
        info = {}
        for _ in range(a.rounds):
            for mode in ("plain", "probe"):
                r = run_child(model, mode, a.steps, a.warmup)
                got[mode] += r["times"]
                info = r
        p, q = got["plain"], got["probe"]
        r_med = statistics.median(q) / statistics.median(p)
        r_min = min(q) / min(p)
        print(f"{model}: {info['tensors']} tensors, {info['params'] / 1e6:.1f}M params; {a.rounds} rounds x "
              f"{a.steps} steps per mode, CPU time per step")
        print(f"  plain  min {min(p) * 1e3:8.2f} ms  median {statistics.median(p) * 1e3:8.2f} ms")
        print(f"  probe  min {min(q) * 1e3:8.2f} ms  median {statistics.median(q) * 1e3:8.2f} ms")
        print(f"  probe/plain: median {r_med:.3f}x  min {r_min:.3f}x  (goal <= {GOALS.get(model, 0):.2f}x)")
        ok &= r_med <= GOALS.get(model, float("inf"))
    print("goals", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
