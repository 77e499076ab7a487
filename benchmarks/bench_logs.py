"""Benchmark the log readers.

1. Event files: write 200k scalars with torch's SummaryWriter, then time our reader, tbparse and
   tensorboard's EventAccumulator (scalars size_guidance 0 = keep all) on the same file, in one run.
   Goal: >= 5x faster than tbparse.
2. Text logs: MB/s of the text reader on a generated training log (goal >= 50 MB/s), both a dense
   log (every line a metric line) and a verbose one (one metric line in 20).

    python benchmarks/bench_logs.py [--scalars 200000] [--text-mb 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def write_events(logdir: Path, n: int) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    tags = ("train/loss", "train/lr", "grad_norm", "val/acc")
    w = SummaryWriter(str(logdir), max_queue=10000, flush_secs=3600)
    for i in range(n // len(tags)):
        for k, t in enumerate(tags):
            w.add_scalar(t, 1.0 / (i + 1 + k), i)
    w.close()
    return logdir


def bench_events(n: int, repeat: int, tmp: Path) -> dict:
    from traintriage.logs import read_run

    logdir = write_events(tmp / "tb", n)
    size = sum(f.stat().st_size for f in logdir.glob("*tfevents*"))
    ours, run = best_of(lambda: read_run(logdir, format="tensorboard"), repeat)
    got = sum(len(s) for s in run.series.values())
    res = {"scalars": got, "file_mb": size / 1e6, "ours_s": ours}
    try:
        from tbparse import SummaryReader

        t, df = best_of(lambda: SummaryReader(str(logdir)).scalars, repeat)
        res["tbparse_s"] = t
        assert len(df) == got, (len(df), got)
    except ImportError:
        res["tbparse_s"] = None
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        def ea():
            acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
            acc.Reload()
            return sum(len(acc.Scalars(t)) for t in acc.Tags()["scalars"])

        t, cnt = best_of(ea, repeat)
        res["event_accumulator_s"] = t
        assert cnt == got, (cnt, got)
    except ImportError:
        res["event_accumulator_s"] = None
    return res


def write_text(path: Path, mb: int, every: int) -> int:
    noise = "2024-05-01 12:00:00,123 INFO worker 3 prefetched batch; queue depth 7 of 8\n"
    i = 0
    with path.open("w") as fh:
        while fh.tell() < mb * 1_000_000:
            lines = []
            for _ in range(1000):
                lines.append(noise * (every - 1))
                lines.append(f"2024-05-01 12:00:00,123 INFO step {i} | loss {2.0 / (1 + i * 1e-4):.5f} | "
                             f"lr 3.0e-04 | grad_norm {0.5 + (i % 7) * 0.01:.4f}\n")
                i += 1
            fh.write("".join(lines))
    return i


def bench_text(mb: int, repeat: int, tmp: Path) -> dict:
    from traintriage.logs import read_run

    out = {}
    for label, every in (("dense", 1), ("verbose_1_in_20", 20)):
        p = tmp / f"{label}.log"
        n = write_text(p, mb, every)
        size = p.stat().st_size
        t, run = best_of(lambda p=p: read_run(p, format="text"), repeat)
        assert len(run.series["loss"]) == n, (len(run.series["loss"]), n)
        out[label] = {"mb": size / 1e6, "seconds": t, "mb_per_s": size / 1e6 / t, "metric_lines": n}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalars", type=int, default=200_000)
    ap.add_argument("--text-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ev = bench_events(a.scalars, a.repeat, tmp)
        print(f"event file: {ev['scalars']} scalars, {ev['file_mb']:.1f} MB (best of {a.repeat})")
        print(f"  traintriage            {ev['ours_s']:.3f} s")
        for k, label in (("tbparse_s", "tbparse"), ("event_accumulator_s", "EventAccumulator")):
            if ev[k] is None:
                print(f"  {label:<22} not installed")
            else:
                print(f"  {label:<22} {ev[k]:.3f} s   -> traintriage is {ev[k] / ev['ours_s']:.1f}x faster")
        tx = bench_text(a.text_mb, a.repeat, tmp)
        for label, r in tx.items():
            print(f"text log ({label}): {r['mb']:.0f} MB, {r['metric_lines']} metric lines in {r['seconds']:.2f} s "
                  f"= {r['mb_per_s']:.0f} MB/s")
    ok = (ev["tbparse_s"] is None or ev["tbparse_s"] / ev["ours_s"] >= 5) and all(
        r["mb_per_s"] >= 50 for r in tx.values())
    print("goals (>= 5x tbparse, >= 50 MB/s text):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
