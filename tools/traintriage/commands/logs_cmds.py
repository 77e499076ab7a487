"""`traintriage logs PATH`: read a run log in any common format and diagnose its curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from traintriage.cli import UsageError, add_json, emit, exit_code_for
from traintriage.render import explain_command, verdict_line

FORMATS = ("auto", "text", "csv", "jsonl", "hf", "tensorboard", "wandb", "mlflow")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "logs",
        help="read a run log (text, CSV, JSONL, HF trainer_state, TensorBoard, W&B, MLflow) and diagnose the curves",
    )
    p.add_argument("path", help="a log file or run folder (TensorBoard logdir, wandb run, mlruns, checkpoint dir)")
    p.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: detect)")
    p.add_argument("--classes", type=int, default=None, metavar="C",
                   help="number of classes: compare the loss with chance, ln C")
    p.add_argument("--metric", default=None, metavar="NAME", help="page through one metric's full series")
    p.add_argument("--points", type=int, default=50, metavar="N", help="points per metric / per page (default 50)")
    p.add_argument("--offset", type=int, default=0, metavar="K", help="with --metric: first point of the page")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="also write a PNG of the curves")
    add_json(p)
    p.set_defaults(func=run_logs)


def run_logs(args: argparse.Namespace) -> int:
    from traintriage.logs import LogReadError, PlotUnavailable, diagnose, plot_run, read_run, summarize

    if args.points < 1:
        raise UsageError("--points must be >= 1")
    if args.classes is not None and args.classes < 2:
        raise UsageError("--classes must be >= 2")
    path = Path(args.path)
    if path.exists() and not (path.is_file() or path.is_dir()):  # a FIFO or device would block or never end
        raise UsageError(f"{args.path} is not a regular file or folder; pass a log file or run folder")
    try:
        run = read_run(args.path, format=args.format)
        report = diagnose(run, num_classes=args.classes)
        summary = summarize(run, max_points=args.points, offset=args.offset, metric=args.metric)
    except (LogReadError, ValueError) as e:
        raise UsageError(str(e)) from e
    plot = None
    if args.plot:
        try:
            plot = plot_run(run, args.plot, report=report)
        except PlotUnavailable as e:
            raise UsageError(str(e)) from e
    payload = report.model_dump(mode="json")
    payload["summary"] = summary
    if plot:
        payload["plot"] = plot
    code = exit_code_for(report.verdict)
    return emit(args, payload, _text(run, report, summary, plot), code)


def _text(run, report, summary, plot) -> str:  # noqa: ANN001
    lines = [f"{report.target}  [{run.format}]  verdict: {report.verdict}", verdict_line(report.verdict)]
    lines += files_text(run)
    if "series" in summary:
        s = summary["series"]
        lines.append(f"\n{s['metric']} ({s['role']}): {s['note']}" + (f"; next --offset {s['next_offset']}" if s["next_offset"] else ""))
        lines += [f"  {st:>10}  {v}" for st, v in zip(s["steps"], s["values"], strict=False)]
    else:
        lines.append(f"\n{summary['metric_count']} metrics")
        for name, m in summary["metrics"].items():
            if "first" not in m:
                lines.append(f"  {name:<32} [{m['role']}] {m['count']} points, all non-finite")
                continue
            lines.append(
                f"  {name:<32} [{m['role']}] {m['count']} pts  first {m['first']['value']:.4g}  "
                f"min {m['min']['value']:.4g}@{m['min']['step']}  last {m['last']['value']:.4g}  {m['trend']}"
                + (f"  ({m['non_finite']} non-finite from step {m['first_non_finite_step']})" if m.get("non_finite") else "")
            )
    if report.symptoms:
        lines.append("\nSYMPTOMS (most severe first)")
        for s in report.symptoms:
            lines.append(f"  [{s.evidence.get('severity', '?')}] {s.id} @ step {s.step}: {s.message}")
            lines.append(f"      candidates: {', '.join(s.candidates[:6])}   ({s.ref})")
            lines.append(f"      explain: {explain_command(s.id)}")
    else:
        lines.append("\nno symptoms")
    if report.findings:
        lines.append("\nFINDINGS")
        for f in report.findings:
            lines.append(f"  [{f.severity} {f.confidence:.2f}] {f.id}: {f.message}  ({f.ref})")
            lines.append(f"      explain: {explain_command(f.id)}")
    if report.notes:
        lines.append("\nNOTES")
        lines += [f"  - {n}" for n in report.notes]
    if plot:
        lines.append(f"\nplot: {plot}")
    return "\n".join(lines)


def files_text(run) -> list[str]:  # noqa: ANN001 - a logs.Run
    """Which files were read and which were left out (a run folder often holds several logs of one run)."""
    out = [f"read: {', '.join(run.files_read)}"] if run.files_read else []
    out += [f"skipped: {f.path} ({f.why})" for f in run.files_skipped]
    return out
