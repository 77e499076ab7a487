"""Benchmark the log readers.

1. Event files: write 200k scalars with torch's SummaryWriter, then time our reader, tbparse and
   tensorboard's EventAccumulator (scalars size_guidance 0 = keep all) on the same file, in one run.
   Goal: >= 5x faster than tbparse.
2. Text logs: MB/s of the text reader on a generated training log (goal >= 50 MB/s), both a dense
   log (every line a metric line) and a verbose one (one metric line in 20).
3. End to end (`python -m traintriage logs PATH --json`, one fresh process each): MB per CPU-second (user +
   sys of the child, interpreter start included) and peak RSS, on 20 MB and 200 MB text, JSONL and CSV logs,
   runs interleaved (every format and size once per round), min and median over the rounds.
   The JSONL is a traintriage_watch.jsonl-shaped log (json.dumps of step, loss, lr, grad norms, param and
   update norms, full-precision floats); the CSV is Lightning CSVLogger-shaped (csv writer, \\r\\n, full
   floats, an empty val row every 1000 steps, sparse cells).
   jsonl-short / csv-short: the previous benchmark's logs (4 keys, numbers of 4-5 decimals), by --formats.
   Goals: every format >= 50 MB per CPU-s at 200 MB (min over rounds); every format's 200 MB peak <= 1.5x its
   20 MB peak.

    python benchmarks/bench_logs.py [--scalars 200000] [--text-mb 100] [--repeat 3] [--e2e-only] [--rounds 3]
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
    """A traintriage_watch.jsonl-shaped log: what json.dumps writes for the watch records."""
    import json
    import math
    import random

    r = random.Random(0)
    i = 0
    with path.open("w") as fh:
        while fh.tell() < mb * 1_000_000:
            out = []
            for _ in range(1000):
                i += 1
                out.append(json.dumps({
                    "step": i, "loss": 2.5 * math.exp(-i / 50000) + 0.05 * r.random(), "lr": 3e-4 * min(1, i / 2000),
                    "grad_norm": 0.5 + r.random(), "grad_norm/encoder": 0.3 + r.random(), "grad_norm/head": r.random(),
                    "param_norm": 120.0 + i * 1e-4, "update_norm": 1e-3 * r.random(),
                    "update_ratio": 1e-5 * r.random()}) + "\n")
            fh.write("".join(out))
    return i


def write_jsonl_short(path: Path, mb: int) -> int:
    """4 keys, numbers of 4-5 decimals (the previous benchmark's JSONL)."""
    i = 0
    with path.open("w") as fh:
        while fh.tell() < mb * 1_000_000:
            fh.write("".join(f'{{"step": {j}, "loss": {2.0 / (1 + j * 1e-4):.5f}, "lr": 0.0003, '
                             f'"grad_norm": {0.5 + (j % 7) * 0.01:.4f}}}\n' for j in range(i, i + 1000)))
            i += 1000
    return i


def write_csv_short(path: Path, mb: int) -> int:
    """4 columns, numbers of 4-5 decimals (the previous benchmark's CSV)."""
    i = 0
    with path.open("w") as fh:
        fh.write("step,loss,lr,grad_norm\n")
        while fh.tell() < mb * 1_000_000:
            fh.write("".join(f"{j},{2.0 / (1 + j * 1e-4):.5f},0.0003,{0.5 + (j % 7) * 0.01:.4f}\n"
                             for j in range(i, i + 1000)))
            i += 1000
    return i


def write_csv(path: Path, mb: int) -> int:
    """A Lightning CSVLogger-shaped metrics.csv: the csv module's \\r\\n, step rows and sparse val rows."""
    import csv
    import math
    import random

    r = random.Random(0)
    i = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "lr-AdamW", "step", "train_acc_step", "train_loss_step", "grad_norm", "val_acc",
                    "val_loss"])
        while fh.tell() < mb * 1_000_000:
            rows = []
            for _ in range(1000):
                i += 1
                loss = 2.5 * math.exp(-i / 50000) + 0.05 * r.random()
                rows.append([i // 5000, 3e-4 * min(1, i / 2000), i, min(0.99, i / 1e6 + 0.1 * r.random()), loss,
                             0.5 + r.random(), "", ""])
            rows.append([i // 5000, "", i, "", "", "", r.random(), 1.1 * loss])
            w.writerows(rows)
    return i


TOOLS = Path(__file__).resolve().parents[1] / "tools"  # the code under test (--tools: another checkout's)


def run_cli(path: Path) -> tuple[float, int, dict]:
    """CPU seconds (user + sys) and peak RSS (KB) of one `traintriage logs PATH --json` process, and its JSON."""
    import json
    import os
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    p = subprocess.Popen([sys.executable, "-m", "traintriage", "logs", str(path), "--json"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, _, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss, json.loads(out)


def bench_e2e(tmp: Path, sizes=(20, 200), formats=("text", "jsonl", "csv"), rounds: int = 3) -> dict:
    """Every (format, size) once per round, rounds interleaved; CPU-s and peak RSS per run."""
    writers = {"text": lambda p, mb: write_text(p, mb, 1), "jsonl": write_jsonl, "csv": write_csv,
               "jsonl-short": write_jsonl_short, "csv-short": write_csv_short}
    files = {}
    for fmt in formats:
        for mb in sizes:
            p = files[(fmt, mb)] = tmp / f"e2e_{fmt}_{mb}.{'log' if fmt == 'text' else fmt.split('-')[0]}"
            writers[fmt](p, mb)
    res: dict = {k: {"mb": p.stat().st_size / 1e6, "cpu": [], "rss": []} for k, p in files.items()}
    for rnd in range(rounds):
        for key, p in files.items():
            cpu, rss, out = run_cli(p)
            r = res[key]
            r["cpu"].append(cpu)
            r["rss"].append(rss / 1024)
            r["verdict"] = out["verdict"]
            r["kept"] = max(m["count"] for m in out["summary"]["metrics"].values())
            print(f"  round {rnd + 1}: {key[0]:<5} {r['mb']:6.0f} MB  {cpu:6.2f} CPU-s = {r['mb'] / cpu:5.0f} MB/CPU-s  "
                  f"peak RSS {rss / 1024:6.0f} MB", flush=True)
    for p in files.values():
        p.unlink()
    return res


def print_e2e(res: dict, sizes=(20, 200)) -> bool:
    from statistics import median

    ok = True
    print(f"  {'format':<6} {'MB':>5} {'CPU-s min':>9} {'median':>7} {'MB/CPU-s best':>13} {'median':>7} "
          f"{'peak RSS MB':>11}  verdict, points kept per metric")
    for (fmt, _), r in res.items():
        lo, mid = min(r["cpu"]), median(r["cpu"])
        r["mb_per_cpu_s"] = r["mb"] / lo
        r["peak_mb"] = max(r["rss"])
        print(f"  {fmt:<6} {r['mb']:5.0f} {lo:9.2f} {mid:7.2f} {r['mb'] / lo:13.0f} {r['mb'] / mid:7.0f} "
              f"{r['peak_mb']:11.0f}  {r['verdict']}, {r['kept']}")
    for fmt in dict.fromkeys(f for f, _ in res):
        if (fmt, sizes[0]) not in res or (fmt, sizes[-1]) not in res or len(sizes) < 2:
            continue
        small, big = res[(fmt, sizes[0])], res[(fmt, sizes[-1])]
        ratio = big["peak_mb"] / small["peak_mb"]
        rate = big["mb_per_cpu_s"]
        print(f"  {fmt:<5} {sizes[-1]} MB: {rate:.0f} MB/CPU-s (goal >= 50); peak {sizes[-1]} MB / peak {sizes[0]} MB "
              f"= {ratio:.2f}x (goal <= 1.5x)")
        ok &= ratio <= 1.5 and rate >= 50
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalars", type=int, default=200_000)
    ap.add_argument("--text-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="20,200", help="end-to-end log sizes in MB (the first and last are compared)")
    ap.add_argument("--formats", default="text,jsonl,csv", help="end-to-end formats")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end CLI runs (3 formats x 20/200 MB)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the end-to-end runs")
    ap.add_argument("--tools", help="the tools/ folder whose traintriage to time (default: this checkout's)")
    a = ap.parse_args(argv)
    if a.tools:
        global TOOLS
        TOOLS = Path(a.tools).resolve()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sizes = tuple(int(x) for x in a.sizes.split(","))
        print("end to end (python -m traintriage logs PATH --json, fresh process, CPU = user + sys):", flush=True)
        e2e_ok = print_e2e(bench_e2e(tmp, sizes, tuple(a.formats.split(",")), a.rounds), sizes)
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
