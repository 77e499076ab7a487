"""`probe SCRIPT` and `triage SCRIPT`: run an unmodified training script under instrumentation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traintriage.cli import UsageError, add_json, emit
from traintriage.render import format_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="run a training script under instrumentation and name what keeps it from learning")
    p.add_argument("script", help="the training script, run unmodified (its own args go after `--`)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overfit", dest="mode", action="store_const", const="overfit",
                   help="replay the first batch and check the loss falls (default)")
    g.add_argument("--observe", dest="mode", action="store_const", const="observe",
                   help="change nothing the script sees; only measure")
    p.set_defaults(mode="overfit")
    _common(p)
    p.set_defaults(func=run_probe_cmd)

    p = sub.add_parser("triage", help="lint + probe (+ logs): one ranked report of likely causes")
    p.add_argument("script", help="the training script, run unmodified (its own args go after `--`)")
    p.add_argument("--logs", help="a log file or folder of the real run (TensorBoard, CSV, JSONL, ...)")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these probe checks (catalogue ids)")
    p.add_argument("--skip", nargs="+", metavar="ID", help="turn these probe checks off (catalogue ids)")
    _common(p)
    p.set_defaults(func=run_triage_cmd)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=40, help="optimizer steps to run (default 40)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before the script is stopped (default 120)")
    p.add_argument("--cwd", help="working directory for the script (default: the script's folder)")
    add_json(p)


def _check(args: argparse.Namespace) -> None:
    s = Path(args.script)
    if not s.exists():
        raise UsageError(f"script not found: {args.script}")
    if not s.is_file():
        raise UsageError(f"not a file: {args.script} (pass the training script, e.g. train.py)")
    if args.steps < 1:
        raise UsageError(f"--steps must be at least 1, not {args.steps}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout}")
    if args.cwd and not Path(args.cwd).is_dir():
        raise UsageError(f"--cwd is not a directory: {args.cwd}")
    if getattr(args, "logs", None) and not Path(args.logs).exists():
        raise UsageError(f"--logs not found: {args.logs}")


def _progress(args: argparse.Namespace):  # noqa: ANN202
    if args.json or not sys.stderr.isatty():
        return None

    def show(done: int, total: int, msg: str) -> None:
        sys.stderr.write(f"\r  {msg:<60}")
        sys.stderr.flush()
        if done >= total:
            sys.stderr.write("\n")

    return show


def _code(rep) -> int:  # noqa: ANN001
    return 0 if rep.verdict == "healthy" else 1


def run_probe_cmd(args: argparse.Namespace) -> int:
    from traintriage.probe import run_probe

    _check(args)
    rep = run_probe(args.script, mode=args.mode, steps=args.steps, timeout=args.timeout, args=args.script_args,
                    cwd=args.cwd, on_progress=_progress(args))
    return emit(args, rep, format_report(rep), _code(rep))


def run_triage_cmd(args: argparse.Namespace) -> int:
    from traintriage.probe.detectors import UnknownCheckError
    from traintriage.triage import triage_script

    _check(args)
    try:
        rep = triage_script(args.script, steps=args.steps, timeout=args.timeout, args=args.script_args, cwd=args.cwd,
                            logs=args.logs, on_progress=_progress(args), only=args.only, skip=args.skip)
    except UnknownCheckError as e:
        raise UsageError(str(e)) from e
    return emit(args, rep, format_report(rep), _code(rep))
