"""plot_run(run, out_png): one PNG with the loss, LR and gradient/update panels, symptoms marked.

matplotlib is optional (`pip install 'traintriage[plot]'`); without it, PlotUnavailable says so.
"""

from __future__ import annotations

import math
from pathlib import Path

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
    from traintriage.logs import PlotUnavailable

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotUnavailable(
            "plotting needs matplotlib: pip install 'traintriage[plot]' (or pip install matplotlib)"
        ) from e
    panels = []
    for title, roles, logy in PANELS:
        series = [s for r in roles for s in run.by_role(r) if len(s)]
        if series:
            panels.append((title, series[:MAX_LINES], logy))
    if not panels:  # nothing with a known role: plot whatever there is
        panels = [("metrics", [s for s in run.series.values() if len(s)][:MAX_LINES], False)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), sharex=True, squeeze=False)
    for ax, (title, series, logy) in zip(axes[:, 0], panels, strict=False):
        positive = True
        for s in series:
            xs = [x for x, v in zip(s.steps, s.values, strict=False) if math.isfinite(v)]
            ys = [v for v in s.values if math.isfinite(v)]
            positive &= all(v > 0 for v in ys)
            ax.plot(xs, ys, label=s.name, linewidth=1)
            bad = [x for x, v in zip(s.steps, s.values, strict=False) if not math.isfinite(v)]
            if bad:
                ax.scatter(bad[:200], [ax.get_ylim()[1]] * len(bad[:200]), marker="x", color="red", s=12,
                           label=f"{s.name} non-finite")
        if logy and positive:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
        if report is not None:
            for sym in report.symptoms:
                if sym.step is not None and any(sym.metric == s.name for s in series):
                    ax.axvline(sym.step, color="red", alpha=0.5, linestyle="--")
                    ax.annotate(sym.id, (sym.step, ax.get_ylim()[1]), fontsize=7, color="red", rotation=90,
                                va="top")
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(Path(run.path).name, fontsize=10)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return str(out)
