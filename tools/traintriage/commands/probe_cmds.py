"""`probe SCRIPT` and `triage SCRIPT`: run an unmodified training script under instrumentation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traintriage.cli import UsageError, add_json, emit


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
    _common(p)
    p.set_defaults(func=run_triage_cmd)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=40, help="optimizer steps to run (default 40)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before the script is stopped (default 120)")
    p.add_argument("--cwd", help="working directory for the script (default: the script's folder)")
    p.add_argument("--lr-scale", type=float, metavar="F",
                   help="multiply every optimizer's learning rate by F at run time (probe/overrides.py)")
    p.add_argument("--optimizer-impl", choices=["as-is", "plain"], default="as-is",
                   help="plain: run optimizers with foreach=False, fused=False (probe/overrides.py)")
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
    if args.lr_scale is not None and not args.lr_scale > 0:
        raise UsageError(f"--lr-scale must be positive, not {args.lr_scale}")
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


def format_report(rep) -> str:  # noqa: ANN001
    lines = [f"{rep.tool}: {rep.target}", f"verdict: {rep.verdict}   ({rep.seconds:.1f} s)"]
    if rep.findings:
        lines.append("")
        lines.append("findings (most likely first):")
        for f in rep.findings:
            lines.append(f"  [{f.severity}] {f.id}  (confidence {f.confidence:.2f}, {f.source})"
                         + (f"  at {f.where}" if f.where else ""))
            lines.append(f"      {f.message}")
            lines.append(f"      ref: {f.ref}")
    for s in rep.symptoms:
        lines.append(f"  symptom {s.id}: {s.message}  -> {', '.join(s.candidates[:4])}")
    m = rep.metrics or {}
    if m.get("loss"):
        lines.append("")
        lines.append("loss: " + " ".join(f"{x:.4g}" if isinstance(x, (int, float)) else "nan" for x in m["loss"]))
    if rep.notes:
        lines.append("")
        lines += [f"note: {n}" for n in rep.notes]
    if rep.verdict == "crashed" and rep.stderr_tail:
        lines.append("")
        lines.append("stderr (tail):")
        lines += ["  " + x for x in rep.stderr_tail.strip().splitlines()[-15:]]
    return "\n".join(lines)


def _code(rep) -> int:  # noqa: ANN001
    return 0 if rep.verdict == "healthy" else 1


def _overrides(args: argparse.Namespace) -> dict:
    from traintriage.probe.overrides import child_config

    return child_config(args.lr_scale, args.optimizer_impl)


def run_probe_cmd(args: argparse.Namespace) -> int:
    from traintriage.probe import run_probe

    _check(args)
    rep = run_probe(args.script, mode=args.mode, steps=args.steps, timeout=args.timeout, args=args.script_args,
                    cwd=args.cwd, on_progress=_progress(args), extra=_overrides(args))
    return emit(args, rep, format_report(rep), _code(rep))


def run_triage_cmd(args: argparse.Namespace) -> int:
    from traintriage.triage import triage_script

    _check(args)
    rep = triage_script(args.script, steps=args.steps, timeout=args.timeout, args=args.script_args, cwd=args.cwd,
                        logs=args.logs, on_progress=_progress(args), overrides=_overrides(args))
    return emit(args, rep, format_report(rep), _code(rep))
