"""`lint SCRIPT`: static checks of a training script's source (nothing is run)."""

from __future__ import annotations

import argparse

from traintriage.cli import UsageError, add_json, emit, exit_code_for, require_file
from traintriage.render import explain_command, verdict_line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lint", help="read a training script's source for wiring/loss/optimizer bugs (nothing is run)")
    p.add_argument("script", help="path to the training script")
    add_json(p)
    p.set_defaults(func=run_lint)


def format_report(report) -> str:
    if not report.findings:
        return f"{report.target}: no findings ({'; '.join(report.notes) or 'clean'})"
    lines = [f"{f.where}  {f.severity}  {f.id}  {f.message}  -> {explain_command(f.id)}" for f in report.findings]
    errors = sum(f.severity == "error" for f in report.findings)
    lines.append(f"{len(report.findings)} finding(s), {errors} error(s); verdict {report.verdict}")
    lines.append(verdict_line(report.verdict))
    return "\n".join(lines)


def run_lint(args: argparse.Namespace) -> int:
    from traintriage.lint import LintError, lint_file

    require_file(args.script)
    try:
        report = lint_file(args.script)
    except LintError as e:
        raise UsageError(str(e)) from e
    return emit(args, report, format_report(report), exit_code_for(report.verdict))
