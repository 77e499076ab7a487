"""A run's logs as the MCP tools hand them out: read + diagnose + summarize + one page of one series, and
the curves as PNG bytes. Pure functions over read_run/diagnose/summarize/plot_run; no `mcp` import.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from traintriage.errors import UsageError
from traintriage.outputs import RunLogsResult, SeriesPage

# Points per metric in read_logs' summary: enough to see a curve's shape, small enough for a context window.
SUMMARY_POINTS = 50


def _unknown_metrics(run, names: list[str]) -> None:  # noqa: ANN001 - a logs.Run
    unknown = [m for m in names if m not in run.series]
    if unknown:
        raise UsageError(f"no metric {', '.join(map(repr, unknown))} in the run; metrics: {', '.join(run.series)}")


def read_logs(
    path: Path, format: str, num_classes: int | None, metric: str | None, offset: int, limit: int,
    points: bool = False, images: bool = False,
) -> tuple[RunLogsResult, dict[str, bytes]]:
    """Read, diagnose, summarize, and page one series (`metric`, points offset..offset+limit); with `images`, the
    curves as one PNG (name -> bytes; empty otherwise).

    Each number is said once: the per-metric statistics are in `summary` (the report's copy of them is left
    out), its sampled points only with `points`, and one metric's full series page by page with `metric`."""
    from traintriage import logs

    run = logs.read_run(path, format=format)
    report = logs.diagnose(run, num_classes=num_classes)
    summary = logs.summarize(run, max_points=SUMMARY_POINTS)
    if not points:
        for m in summary["metrics"].values():
            m.pop("points", None)
    page = None
    if metric is not None:
        _unknown_metrics(run, [metric])
        s = run.series[metric]
        steps, values = list(s.steps), list(s.values)
        chunk = slice(offset, offset + limit)
        page = SeriesPage(
            metric=metric,
            total_points=len(steps),
            offset=offset,
            steps=[float(x) for x in steps[chunk]],
            values=[float(v) if v is not None and math.isfinite(v) else None for v in values[chunk]],
            next_offset=offset + limit if offset + limit < len(steps) else None,
        )
    pngs = {"curves": _plot_png(run, report)} if images else {}
    result = RunLogsResult(path=str(path), report=report.model_copy(update={"metrics": {}}), summary=summary,
                           metrics=list(run.series), series=page)
    return result, pngs


def _plot_png(run, report) -> bytes:  # noqa: ANN001 - a logs.Run, a Report or None
    from traintriage import logs

    with tempfile.TemporaryDirectory(prefix="traintriage-plot-") as tmp:
        out = Path(tmp) / "run.png"
        try:
            res = logs.plot_run(run, out, report=report)
        except logs.PlotUnavailable as e:
            raise UsageError(f"{e}; install matplotlib (pip install 'traintriage[plot]')") from e
        return Path(res or out).read_bytes()


def render_plot(path: Path, format: str, metrics: list[str] | None) -> bytes:
    """The run's curves (or only `metrics`) as PNG bytes, with the symptoms marked when diagnosis works."""
    from traintriage import logs

    run = logs.read_run(path, format=format)
    if metrics:
        _unknown_metrics(run, metrics)
        run = run.model_copy(update={"series": {m: run.series[m] for m in metrics}})
    try:
        report = logs.diagnose(run)
    except Exception:  # noqa: BLE001 - the plot is still worth having without symptom marks
        report = None
    return _plot_png(run, report)
