"""`eval`: run the seeded eval suite and print the scoreboard; exit 1 when below the given thresholds."""

from __future__ import annotations

import argparse
import sys

from traintriage.cli import UsageError, add_json, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score the tools on the seeded broken scripts and healthy controls")
    p.add_argument("--cases", metavar="DIR", help="cases folder (default: evals/cases of this checkout)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only cases whose name matches one of these globs")
    p.add_argument("--steps", type=int, default=40, help="probe optimizer steps per script (default 40)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per script (default 120)")
    p.add_argument("--jobs", type=int, default=1,
                   help="scripts run at once (default 1; more is faster but inflates per-case seconds)")
    p.add_argument("--min-top1", type=float, help="fail (exit 1) when top-1 accuracy is below this")
    p.add_argument("--min-top3", type=float, help="fail (exit 1) when top-3 accuracy is below this")
    p.add_argument("--max-false-alarms", type=int, help="fail (exit 1) when false alarms exceed this")
    p.add_argument("--max-unclean", type=int,
                   help="fail (exit 1) when more scripts than this crashed or timed out under the probe")
    p.add_argument("--quiet", action="store_true", help="no per-script progress on stderr")
    add_json(p)
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from traintriage import evals

    if args.steps < 1:
        raise UsageError("--steps must be at least 1")

    def progress(row: evals.Row, done: int, total: int) -> None:
        mark = ("hit" if row.hit1 else "top3" if row.hit3 else "miss") if row.kind == "broken" else (
            "FALSE ALARM " + ",".join(row.false_alarms) if row.false_alarms else "clean")
        sys.stderr.write(f"[{done}/{total}] {row.case}/{row.script}: {mark} ({row.seconds:.1f}s)\n")

    try:
        sb = evals.run_evals(args.cases, steps=args.steps, timeout=args.timeout, only=args.only,
                             on_case=None if (args.quiet or args.json) else progress, jobs=args.jobs)
    except evals.CaseError as e:
        raise UsageError(str(e)) from e
    if sb.broken + sb.clean == 0:
        raise UsageError("no case matched" + (f" --only {' '.join(args.only)}" if args.only else ""))
    failed = sb.failures(args.min_top1, args.min_top3, args.max_false_alarms, args.max_unclean)
    text = evals.format_scoreboard(sb)
    if failed:
        text += "\nFAILED: " + "; ".join(failed)
    payload = sb.model_dump(mode="json") | {"failed": failed}
    return emit(args, payload, text, 1 if failed else 0)
