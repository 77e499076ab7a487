"""Two probes at once: torch's default intra-op threads against one thread per child (issue 15, item 2).

    python benchmarks/bench_threads.py [--rounds 3] [--case lr-too-low-transformer] [--steps 30]

Each round runs the same eval case twice at the same time (two threads calling run_child, cold children), once
with OMP_NUM_THREADS/MKL_NUM_THREADS at the number of CPUs (torch's default) and once with both set to 1, in
alternating order. Prints the wall time of the pair and the CPU time of the children (RUSAGE_CHILDREN), min and
median, and the ratio default/one-thread.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table, ratios  # noqa: E402

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pair(script: Path, steps: int, one_thread: bool) -> tuple[float, float, float]:
    from traintriage.probe.runner import run_child

    saved = {k: os.environ.pop(k, None) for k in THREAD_ENV}
    # torch's default is one thread per core; set explicitly, since runner.py gives a second concurrent child
    # one thread when these are unset
    os.environ.update(dict.fromkeys(THREAD_ENV, "1" if one_thread else str(os.cpu_count())))
    try:
        c0, t0 = _cpu(), time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            raws = list(pool.map(lambda _: run_child(script, steps=steps, timeout=600), range(2)))
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
    assert all(r["status"] == "exited" for r in raws)
    return wall, cpu, max(r["seconds"] for r in raws)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--case", default="lr-too-low-transformer")
    ap.add_argument("--steps", type=int, default=30)
    a = ap.parse_args()
    script = REPO / "evals" / "cases" / a.case / "train.py"
    res: dict[str, list[tuple[float, float, float]]] = {"default threads": [], "one thread": []}
    for i in range(a.rounds):
        for one in ((False, True) if i % 2 == 0 else (True, False)):
            res["one thread" if one else "default threads"].append(pair(script, a.steps, one))
    print(f"two concurrent probes of evals/cases/{a.case} ({a.steps} steps), {os.cpu_count()} CPUs, "
          f"{a.rounds} interleaved rounds")
    st = print_table({k: [(w, c) for w, c, _ in xs] for k, xs in res.items()})
    print(f"default/one-thread: {ratios(st['default threads'], st['one thread'])}")

if __name__ == "__main__":
    main()
