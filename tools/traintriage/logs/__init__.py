"""Run logs: read every common format into one model, then diagnose the curves.

    from traintriage.logs import read_run, diagnose, summarize, plot_run
    run = read_run("runs/exp1")            # TensorBoard dir, W&B run, mlruns, trainer_state.json, CSV, JSONL, text
    report = diagnose(run, num_classes=10) # traintriage.report.Report(tool="logs") with symptoms + findings
    summarize(run, max_points=50)          # compact, agent-friendly: first/min/last/trend, "N of M points"

This package imports neither torch nor numpy at import time (the CLI and MCP server must start fast).
"""

from __future__ import annotations

from traintriage.logs.model import ROLES, LogReadError, Run, Series, role_for
from traintriage.logs.registry import FORMATS, READERS, detect, read_run

__all__ = [
    "FORMATS", "READERS", "ROLES", "LogReadError", "PlotUnavailable", "Run", "Series", "detect", "diagnose",
    "plot_run", "read_run", "role_for", "summarize",
]


def diagnose(run: Run, num_classes: int | None = None):  # noqa: ANN201 - Report, imported lazily
    from traintriage.logs.diagnosis import diagnose as _d

    return _d(run, num_classes=num_classes)


def summarize(run: Run, max_points: int = 50, offset: int = 0, metric: str | None = None) -> dict:
    from traintriage.logs.summary import summarize as _s

    return _s(run, max_points=max_points, offset=offset, metric=metric)


def plot_run(run: Run, out_png, report=None) -> str:  # noqa: ANN001
    from traintriage.logs.plot import plot_run as _p

    return _p(run, out_png, report=report)


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""
