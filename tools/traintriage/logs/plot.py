"""plot_run(run, out_png): one PNG with the loss, LR and gradient/update panels, symptoms marked.

matplotlib is optional (`pip install 'traintriage[plot]'`); without it, PlotUnavailable says so.
"""

from __future__ import annotations

import math
from pathlib import Path

from traintriage.figure_axes import label_markers, marker, readable_axes, short, wants_log
from traintriage.logs.model import Run

PANELS = (
    ("loss", ("train_loss", "val_loss"), True),
    ("learning rate", ("lr",), False),
    ("gradient norm", ("grad_norm",), True),
    ("update / param", ("update_ratio", "param_norm", "loss_scale"), True),
    ("accuracy", ("accuracy", "val_accuracy"), False),
)
MAX_LINES = 6  # per panel; more makes the legend unreadable


def plot_run(run: Run, out_png, report=None) -> str:  # noqa: ANN001
    """Write the figure of `run` (symptoms of `report` marked) as a PNG; the path written."""
    fig = draw(run, report)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    _plt().close(fig)
    return str(out)


def _plt():  # noqa: ANN202
    from traintriage.logs import PlotUnavailable

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotUnavailable(
            "plotting needs matplotlib: pip install 'traintriage[plot]' (or pip install matplotlib)"
        ) from e
    return plt


def draw(run: Run, report=None):  # noqa: ANN001, ANN201 - a Report or None; a matplotlib Figure
    """One panel per kind of metric (loss, LR, gradient norm, update ratio, accuracy), symptoms labelled."""
    plt = _plt()
    panels = []
    for title, roles, logy in PANELS:
        series = [s for r in roles for s in run.by_role(r) if len(s)]
        if series:
            panels.append((title, series[:MAX_LINES], logy))
    if not panels:  # nothing with a known role: plot whatever there is
        panels = [("metrics", [s for s in run.series.values() if len(s)][:MAX_LINES], False)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), sharex=True, squeeze=False)
    for ax, (title, series, logy) in zip(axes[:, 0], panels, strict=False):
        finite = []
        for s in series:
            xs = [x for x, v in zip(s.steps, s.values, strict=False) if math.isfinite(v)]
            ys = [v for v in s.values if math.isfinite(v)]
            finite += ys
            ax.plot(xs, ys, label=short(s.name), linewidth=1, marker=marker(len(ys)), markersize=3)
            bad = [x for x, v in zip(s.steps, s.values, strict=False) if not math.isfinite(v)]
            if bad:
                ax.scatter(bad[:200], [ax.get_ylim()[1]] * len(bad[:200]), marker="x", color="red", s=12,
                           label=f"{short(s.name)} non-finite")
        if logy and wants_log(finite):
            ax.set_yscale("log")
        readable_axes(ax)
        ax.set_title(title, fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(Path(run.path).name, fontsize=10)
    fig.tight_layout()  # before the symptom labels: they are placed by their drawn size
    for ax, (_title, series, _logy) in zip(axes[:, 0], panels, strict=False):
        if report is not None:
            names = {s.name for s in series}
            label_markers(ax, [(sym.step, sym.id) for sym in report.symptoms
                               if sym.step is not None and sym.metric in names])
    return fig
