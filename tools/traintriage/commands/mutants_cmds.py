"""`mutants`: plant each mutation operator's bug in each healthy host, keep the mutants that learn worse, score."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traintriage.cli import UsageError, add_json, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mutants", help="operator x host matrix: planted bugs in healthy scripts, verified, scored")
    p.add_argument("--hosts", nargs="+", metavar="DIR",
                   help="case folders holding hosts (default: evals/real and evals/cases of this checkout)")
    p.add_argument("--ops", nargs="+", metavar="ID", help="only these operators (default: all)")
    p.add_argument("--pairs", metavar="FILE", help="only these `host op` pairs, one per line (CI's sample)")
    p.add_argument("--list", action="store_true", help="list the operators and the ids each produces")
    p.add_argument("--jobs", type=int, default=1, help="hosts at once (each child gets one thread)")
    p.add_argument("--steps", type=int, default=40, help="probe optimizer steps per triage (default 40)")
    p.add_argument("--min-top1", type=float, help="fail (exit 1) when top-1 over scored mutants is below this")
    p.add_argument("--min-top3", type=float, help="fail (exit 1) when top-3 is below this")
    p.add_argument("--max-false-alarms", type=int, help="fail (exit 1) when more hosts get an error finding")
    p.add_argument("--no-host-triage", action="store_true",
                   help="do not triage the hosts themselves (no host false alarms): CI's eval gate does that")
    add_json(p)
    p.set_defaults(func=run_mutants_cmd)


def _default_hosts() -> list[Path]:
    from traintriage.evals import default_cases_dir

    cases = default_cases_dir()
    return [d for d in (cases.parent / "real", cases) if d.is_dir()]


def run_mutants_cmd(args: argparse.Namespace) -> int:
    from traintriage.mutate import OPERATORS, by_id
    from traintriage.mutate.matrix import format_matrix, host_scripts, run_matrix

    if args.list:
        return emit(args, {"operators": [{"id": o.NAME, "produces": o.PRODUCES, "bug": (o.__doc__ or "").strip()}
                                         for o in OPERATORS]},
                    "\n".join(f"{o.NAME:<30} -> {', '.join(o.PRODUCES)}" for o in OPERATORS))
    try:
        ops = [by_id(i) for i in args.ops] if args.ops else None
    except KeyError as e:
        raise UsageError(str(e.args[0])) from e
    dirs = [Path(h) for h in args.hosts] if args.hosts else _default_hosts()
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise UsageError(f"not a folder: {', '.join(missing)}")
    pairs = None
    if args.pairs:
        try:
            lines = Path(args.pairs).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise UsageError(f"cannot read --pairs {args.pairs}: {e.strerror}") from e
        pairs = {tuple(ln.split()[:2]) for ln in lines if ln.strip() and not ln.startswith("#")}

    def progress(row, done, total) -> None:  # noqa: ANN001
        sys.stderr.write(f"[{done}/{total}] {row.host}: {'ok' if row.usable else row.reason[:60]}\n")

    m = run_matrix(host_scripts(dirs), ops=ops, pairs=pairs, jobs=args.jobs, steps=args.steps,
                   on_host=None if args.json else progress, triage_hosts=not args.no_host_triage)
    failed = ((args.min_top1 is not None and m.top1 < args.min_top1)
              or (args.min_top3 is not None and m.top3 < args.min_top3)
              or (args.max_false_alarms is not None and m.host_false_alarms > args.max_false_alarms))
    return emit(args, m, format_matrix(m), 1 if failed else 0)
