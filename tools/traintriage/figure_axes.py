"""How our figures draw points, scale and label their axes, and place marker labels, so they read at any series
length (issue 19). Shared by the run-log plot (logs/plot.py) and the HTML report's figures (report_html.py).
Takes matplotlib Axes; imports matplotlib only inside the functions (the CLI and server start without it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

# A series this short gets a marker on every point: with few points a bare line hides where the measurements
# are (three points read as two straight segments). Above it, markers merge into a thick line.
MARKER_MAX_POINTS = 60

# A log axis only when the positive values span at least this factor (one decade). Over less, log ticks fall
# between powers of ten and matplotlib labels them like "2.3125x10^0"; a linear axis reads better there.
LOG_MIN_SPAN = 10.0

# Longest tick / legend label in characters; a longer module or metric name keeps its end (the distinctive
# part: "encoder.layers.11.attn.q_proj" -> "…layers.11.attn.q_proj").
MAX_LABEL_CHARS = 32

# Vertical room per row of marker labels, as a share of the axes' height, and the first row's position.
LABEL_ROW = 0.09
LABEL_TOP = 0.97


def marker(n_points: int) -> str | None:
    return "o" if n_points <= MARKER_MAX_POINTS else None


def wants_log(values: Iterable[Any]) -> bool:
    """True when every finite value is positive and they span LOG_MIN_SPAN or more."""
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not vals or min(vals) <= 0:
        return False
    return max(vals) / min(vals) >= LOG_MIN_SPAN


def _plain(v: float, _pos: Any = None) -> str:
    return f"{v:.3g}"


def _two_five(v: float, _pos: Any = None) -> str:
    if v <= 0:
        return ""
    mantissa = round(v / 10 ** math.floor(math.log10(v)), 6)
    return _plain(v) if mantissa in (2.0, 5.0) else ""


def readable_axes(ax: Any) -> None:  # noqa: ANN401 - a matplotlib Axes
    """Tick labels as plain numbers: no offset ("+2.3"), no "m x 10^k" on log axes; step ticks as integers."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter, ScalarFormatter

    if ax.get_yscale() == "log":
        lo, hi = ax.get_ylim()
        ax.yaxis.set_major_formatter(FuncFormatter(_plain))
        # Under two decades the powers of ten are too few to read values by: label the minor ticks at 2x and
        # 5x too (all eight per decade collide: "8 9 10").
        small = lo > 0 and hi / lo < 100
        ax.yaxis.set_minor_formatter(FuncFormatter(_two_five) if small else NullFormatter())
    else:
        fmt = ScalarFormatter(useOffset=False)
        fmt.set_scientific(False)
        ax.yaxis.set_major_formatter(fmt)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))


def short(name: str, width: int = MAX_LABEL_CHARS) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def label_markers(ax: Any, marks: list[tuple[float, str]], color: str = "red") -> list[Any]:  # noqa: ANN401
    """A dashed vertical line at each (x, text), and its text near the top, horizontal, moved down a row until
    it overlaps no label already placed. Returns the Text objects (tests read their bounding boxes)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    xmin, xmax = ax.get_xlim()
    placed: list[Any] = []
    texts = []
    for x, text in sorted(marks):
        ax.axvline(x, color=color, alpha=0.5, linestyle="--", linewidth=1)
        right_half = (x - xmin) > 0.6 * (xmax - xmin)
        row = 0
        while True:
            t = ax.text(x, LABEL_TOP - row * LABEL_ROW, f" {text} ", transform=ax.get_xaxis_transform(),
                        fontsize=7, color=color, va="top", ha="right" if right_half else "left",
                        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
            box = t.get_window_extent(renderer)
            if not any(box.overlaps(b) for b in placed) or LABEL_TOP - (row + 1) * LABEL_ROW < 0:
                break
            t.remove()
            row += 1
        placed.append(box)
        texts.append(t)
    return texts
