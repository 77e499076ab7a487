"""`probe SCRIPT` and `triage SCRIPT`: run an unmodified training script under instrumentation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traintriage.cli import UsageError, add_json, add_report, emit, exit_code_for, require_file, write_report
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
    _common(p)
    p.set_defaults(func=run_triage_cmd)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=40, help="optimizer steps to run (default 40)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before the script is stopped (default 120)")
    p.add_argument("--cwd", help="working directory for the script (default: the script's folder)")
    p.add_argument("--max-memory", type=float, metavar="GIB",
                   help="memory cap of the script in GiB (default half the RAM); over it the probe says crashed")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these probe checks (catalogue ids)")
    p.add_argument("--skip", nargs="+", metavar="ID", help="turn these probe checks off (catalogue ids)")
    p.add_argument("--lr-scale", type=float, metavar="F",
                   help="multiply every optimizer's learning rate by F at run time (probe/overrides.py)")
    p.add_argument("--optimizer-impl", choices=["as-is", "plain"], default="as-is",
                   help="plain: run optimizers with foreach=False, fused=False (probe/overrides.py)")
    p.add_argument("--nproc-per-node", type=int, metavar="N",
                   help="launch the script through torch.distributed.run with N ranks (gloo on CPU, loopback), the "
                        "probe in every rank; evidence is merged per rank")
    add_report(p)
    add_json(p)


def _check(args: argparse.Namespace) -> None:
    require_file(args.script)
    if args.steps < 1:
        raise UsageError(f"--steps must be at least 1, not {args.steps}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout}")
    if args.max_memory is not None and args.max_memory <= 0:
        raise UsageError(f"--max-memory must be positive, not {args.max_memory}")
    if args.lr_scale is not None and not args.lr_scale > 0:
        raise UsageError(f"--lr-scale must be positive, not {args.lr_scale}")
    if args.nproc_per_node is not None and args.nproc_per_node < 1:
        raise UsageError(f"--nproc-per-node must be at least 1, not {args.nproc_per_node}")
    if args.cwd and not Path(args.cwd).is_dir():
        raise UsageError(f"--cwd is not a directory: {args.cwd}")
    logs = getattr(args, "logs", None)
    if logs and not Path(logs).exists():
        raise UsageError(f"--logs not found: {logs}")
    if logs and not (Path(logs).is_file() or Path(logs).is_dir()):  # a FIFO or device would block the read
        raise UsageError(f"--logs {logs} is not a regular file or folder")


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
    return exit_code_for(rep.verdict)


def _bytes(gib: float | None) -> int | None:
    return int(gib * 2**30) if gib else None


def _overrides(args: argparse.Namespace) -> dict:
    from traintriage.probe.overrides import child_config

    return child_config(args.lr_scale, args.optimizer_impl)


def run_probe_cmd(args: argparse.Namespace) -> int:
    from traintriage.probe import run_probe
    from traintriage.probe.detectors import UnknownCheckError

    _check(args)
    try:
        rep = run_probe(args.script, mode=args.mode, steps=args.steps, timeout=args.timeout, args=args.script_args,
                        cwd=args.cwd, on_progress=_progress(args), max_memory=_bytes(args.max_memory),
                        extra=_overrides(args), only=args.only, skip=args.skip, nproc_per_node=args.nproc_per_node)
    except UnknownCheckError as e:
        raise UsageError(str(e)) from e
    write_report(args, rep)
    return emit(args, rep, format_report(rep), _code(rep))


def run_triage_cmd(args: argparse.Namespace) -> int:
    from traintriage.probe.detectors import UnknownCheckError
    from traintriage.triage import triage_script

    _check(args)
    try:
        rep = triage_script(args.script, steps=args.steps, timeout=args.timeout, args=args.script_args, cwd=args.cwd,
                            logs=args.logs, on_progress=_progress(args), only=args.only, skip=args.skip,
                            max_memory=_bytes(args.max_memory), overrides=_overrides(args),
                            nproc_per_node=args.nproc_per_node)
    except UnknownCheckError as e:
        raise UsageError(str(e)) from e
    write_report(args, rep)
    return emit(args, rep, format_report(rep), _code(rep))
