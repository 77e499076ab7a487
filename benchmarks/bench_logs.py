"""Benchmark the log readers.

1. Event files: write 200k scalars with torch's SummaryWriter, then time our reader, tbparse and
   tensorboard's EventAccumulator (scalars size_guidance 0 = keep all) on the same file, in one run.
   Goal: >= 5x faster than tbparse.
2. Text logs: MB/s of the text reader on a generated training log (goal >= 50 MB/s), both a dense
   log (every line a metric line) and a verbose one (one metric line in 20).
3. End to end (`python -m traintriage logs PATH --json`, one fresh process each): MB per CPU-second (user +
   sys of the child, interpreter start included) and peak RSS, on 20 MB and 200 MB text, JSONL and CSV logs.
   Goals: text >= 50 MB per CPU-s at 200 MB; every format's 200 MB peak <= 1.5x its 20 MB peak.

    python benchmarks/bench_logs.py [--scalars 200000] [--text-mb 100] [--repeat 3] [--e2e-only]
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


def write_jsonl(path: Path, mb: int) -> int:
    i = 0
    with path.open("w") as fh:
        while fh.tell() < mb * 1_000_000:
            fh.write("".join(f'{{"step": {j}, "loss": {2.0 / (1 + j * 1e-4):.5f}, "lr": 0.0003, '
                             f'"grad_norm": {0.5 + (j % 7) * 0.01:.4f}}}\n' for j in range(i, i + 1000)))
            i += 1000
    return i


def write_csv(path: Path, mb: int) -> int:
    i = 0
    with path.open("w") as fh:
        fh.write("step,loss,lr,grad_norm\n")
        while fh.tell() < mb * 1_000_000:
            fh.write("".join(f"{j},{2.0 / (1 + j * 1e-4):.5f},0.0003,{0.5 + (j % 7) * 0.01:.4f}\n"
                             for j in range(i, i + 1000)))
            i += 1000
    return i


def run_cli(path: Path) -> tuple[float, int, dict]:
    """CPU seconds (user + sys) and peak RSS (KB) of one `traintriage logs PATH --json` process, and its JSON."""
    import json
    import os
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "tools"))
    p = subprocess.Popen([sys.executable, "-m", "traintriage", "logs", str(path), "--json"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, _, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss, json.loads(out)


def bench_e2e(tmp: Path, sizes=(20, 200), formats=("text", "jsonl", "csv")) -> dict:
    writers = {"text": lambda p, mb: write_text(p, mb, 1), "jsonl": write_jsonl, "csv": write_csv}
    res = {}
    for fmt in formats:
        write = writers[fmt]
        for mb in sizes:
            p = tmp / f"e2e_{mb}.{ 'log' if fmt == 'text' else fmt}"
            write(p, mb)
            size = p.stat().st_size / 1e6
            cpu, rss, out = run_cli(p)
            kept = max(m["count"] for m in out["summary"]["metrics"].values())
            res[(fmt, mb)] = r = {"mb": size, "cpu_s": cpu, "mb_per_cpu_s": size / cpu, "peak_mb": rss / 1024,
                                  "verdict": out["verdict"], "kept": kept}
            print(f"  {fmt:<5} {r['mb']:6.0f} MB  {r['cpu_s']:6.2f} CPU-s = {r['mb_per_cpu_s']:5.0f} MB/CPU-s  "
                  f"peak RSS {r['peak_mb']:6.0f} MB  verdict {r['verdict']}, {r['kept']} points kept per metric",
                  flush=True)
            p.unlink()
    return res


def print_e2e(res: dict, sizes=(20, 200)) -> bool:
    ok = True
    for fmt in sorted({f for f, _ in res}):
        if (fmt, sizes[-1]) not in res or (fmt, sizes[0]) not in res or len(sizes) < 2:
            continue
        small, big = res[(fmt, sizes[0])], res[(fmt, sizes[1])]
        ratio = big["peak_mb"] / small["peak_mb"]
        print(f"  {fmt:<5} peak {sizes[1]} MB / peak {sizes[0]} MB = {ratio:.2f}x (goal <= 1.5x)")
        ok &= ratio <= 1.5
    text_rate = res[("text", sizes[-1])]["mb_per_cpu_s"] if ("text", sizes[-1]) in res else 0.0
    print(f"  text {sizes[-1]} MB: {text_rate:.0f} MB/CPU-s (goal >= 50)")
    return ok and text_rate >= 50


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalars", type=int, default=200_000)
    ap.add_argument("--text-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="20,200", help="end-to-end log sizes in MB (the first and last are compared)")
    ap.add_argument("--formats", default="text,jsonl,csv", help="end-to-end formats")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end CLI runs (3 formats x 20/200 MB)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sizes = tuple(int(x) for x in a.sizes.split(","))
        print("end to end (python -m traintriage logs PATH --json, fresh process, CPU = user + sys):", flush=True)
        e2e_ok = print_e2e(bench_e2e(tmp, sizes, tuple(a.formats.split(","))), sizes)
        if a.e2e_only:
            return 0 if e2e_ok else 1
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
    ok = e2e_ok and (ev["tbparse_s"] is None or ev["tbparse_s"] / ev["ours_s"] >= 5) and all(
        r["mb_per_s"] >= 50 for r in tx.values())
    print("goals (>= 5x tbparse, >= 50 MB/s text, end-to-end goals):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
