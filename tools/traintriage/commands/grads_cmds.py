"""`grads SCRIPT`: per-loss-term gradient decomposition and the metric-stuck rough map, on the user's script."""

from __future__ import annotations

import argparse

from traintriage.cli import UsageError, add_json, add_report, emit, exit_code_for, require_file, write_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grads",
        help="why won't this metric move: per-loss-term gradients, cosines, ablation and the rough map",
    )
    p.add_argument("script", help="the training script, run unmodified (its own args go after `--`)")
    p.add_argument("--steps", type=int, default=40, help="optimizer steps per run (default 40)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per run before it is stopped (default 120)")
    p.add_argument("--cwd", help="working directory for the script (default: the script's folder)")
    p.add_argument("--ablate", metavar="TERM",
                   help="run again with this term's contribution zeroed and compare the metric (question 3)")
    p.add_argument("--metric", metavar="NAME",
                   help="the scalar to compare and to trace to the parameters: a term name or a traintriage.term "
                        "marker (default: the ablated term)")
    add_report(p)
    add_json(p)
    p.set_defaults(func=run_grads_cmd)


def run_grads_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from traintriage.commands.probe_cmds import _progress
    from traintriage.probe.grads import UnknownTermError, grads_script
    from traintriage.render import format_grads

    require_file(args.script)
    if args.steps < 2:
        raise UsageError(f"--steps must be at least 2, not {args.steps}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout}")
    if args.cwd and not Path(args.cwd).is_dir():
        raise UsageError(f"--cwd is not a directory: {args.cwd}")
    try:
        rep = grads_script(args.script, steps=args.steps, timeout=args.timeout, args=args.script_args,
                           cwd=args.cwd, ablate=args.ablate, metric=args.metric, on_progress=_progress(args))
    except UnknownTermError as e:
        raise UsageError(str(e)) from e
    write_report(args, rep)
    return emit(args, rep, format_grads(rep), exit_code_for(rep.verdict))
