"""Run `traintriage triage <script> --json` on every evals/real/*/train.py, one at a time, and tabulate.

    PYTHONPATH=$PWD/tools OMP_NUM_THREADS=1 python evals/real/measure.py [--only GLOB ...] [--out results.json]

Each script runs in its own folder as the working directory (as `traintriage eval` does). Prints a markdown
table (script, verdict, error ids, warning ids, crash, seconds) and writes the raw rows as JSON to --out.
A row counts as a crash when triage prints no JSON or its verdict is `crashed`/`timeout` (it exits 1 on `broken`).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WALL_LIMIT_S = 600  # far above a triage call's own 120 s script timeout: only a hung harness hits it


def triage_one(folder: Path, steps: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "traintriage", "triage", "train.py", "--json", "--steps", str(steps)]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=WALL_LIMIT_S)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = -1, "", "harness wall limit"
    seconds = round(time.monotonic() - t0, 1)
    row = {"script": folder.name, "rc": rc, "seconds": seconds, "verdict": None, "errors": [], "warnings": [],
           "messages": {}, "notes": [], "stderr_tail": err[-2000:]}
    try:
        rep = json.loads(out)
    except json.JSONDecodeError:
        row["crash"] = True
        return row
    row["verdict"] = rep["verdict"]
    row["errors"] = [f["id"] for f in rep["findings"] if f["severity"] == "error"]
    row["warnings"] = [f["id"] for f in rep["findings"] if f["severity"] == "warning"]
    row["messages"] = {f["id"]: f["message"] for f in rep["findings"] if f["severity"] in ("error", "warning")}
    row["notes"] = rep.get("notes", [])
    row["crash"] = rep["verdict"] in ("crashed", "timeout")  # triage exits 1 on a `broken` verdict: not a crash
    row["stderr_tail"] = rep.get("stderr_tail") or row["stderr_tail"]
    return row


def table(rows: list[dict]) -> str:
    lines = ["| script | verdict | error ids | warning ids | crash | seconds |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['script']} | {r['verdict']} | {', '.join(r['errors']) or '-'} | "
                     f"{', '.join(r['warnings']) or '-'} | {'yes' if r['crash'] else 'no'} | {r['seconds']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="folder name globs")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    a = ap.parse_args(argv)
    folders = sorted(p for p in HERE.iterdir() if (p / "train.py").is_file())
    if a.only:
        folders = [p for p in folders if any(fnmatch.fnmatchcase(p.name, g) for g in a.only)]
    rows = []
    for f in folders:
        rows.append(triage_one(f, a.steps))
        r = rows[-1]
        print(f"{r['script']}: {r['verdict']} errors={r['errors']} warnings={r['warnings']} {r['seconds']}s",
              file=sys.stderr, flush=True)
        if a.out:
            Path(a.out).write_text(json.dumps(rows, indent=1))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
