"""The figures read at any series length (issue 19 item 7): checked on the drawn matplotlib objects — tick label
text, markers, the symptom labels' bounding boxes — for the run-log plot and the HTML report's figures."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from traintriage.logs import diagnose  # noqa: E402
from traintriage.logs.model import Run, Series  # noqa: E402
from traintriage.logs.plot import draw  # noqa: E402
from traintriage.report import Report, Symptom  # noqa: E402


def _run(**series) -> Run:  # noqa: ANN003 - name -> values
    out = {}
    for name, vals in series.items():
        vals = list(map(float, vals))
        out[name] = Series(name=name, role="val_loss" if name.startswith("val") else "train_loss",
                           steps=list(range(len(vals))), values=vals)
    return Run(path="run.jsonl", format="jsonl", series=out)


def _tick_texts(ax) -> list[str]:  # noqa: ANN001
    ax.figure.canvas.draw()
    labels = ax.yaxis.get_ticklabels(minor=False) + ax.yaxis.get_ticklabels(minor=True)
    return [t.get_text() for t in labels if t.get_text()]


def _close(fig) -> None:  # noqa: ANN001
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_flat_loss_has_plain_linear_tick_labels():
    rng = np.random.default_rng(0)
    flat = 2.3125 + 1e-3 * rng.standard_normal(200)  # a loss stuck at ln(10)
    fig = draw(_run(loss=flat))
    ax = fig.axes[0]
    texts = _tick_texts(ax)
    assert ax.get_yscale() == "linear" and texts
    assert not any("10^" in t or "×" in t or "x10" in t or "$" in t for t in texts), texts
    assert all(2.2 < float(t) < 2.4 for t in texts), texts  # the values themselves, no offset to add
    assert ax.yaxis.get_offset_text().get_text() == ""
    _close(fig)


def test_wide_loss_is_log_with_plain_numbers():
    fig = draw(_run(loss=np.geomspace(10.0, 1e-3, 300)))
    ax = fig.axes[0]
    texts = _tick_texts(ax)
    assert ax.get_yscale() == "log" and "0.001" in texts and "0.1" in texts and "10" in texts, texts
    assert not any("10^" in t or "$" in t for t in texts)
    _close(fig)


def test_short_series_have_markers_long_ones_do_not():
    fig = draw(_run(loss=[2.3, 2.1, 1.9]))
    (line,) = fig.axes[0].get_lines()
    assert line.get_marker() == "o"
    _close(fig)
    fig = draw(_run(loss=np.linspace(2.3, 0.1, 5000)))
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    assert line.get_marker() in ("None", None, "")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in ax.xaxis.get_ticklabels() if t.get_text() and t.get_visible()]
    assert 2 <= len(boxes) <= 10
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])  # readable at 5,000 steps
    _close(fig)


def test_symptom_labels_do_not_overlap():
    rng = np.random.default_rng(1)
    train = np.concatenate([np.linspace(2.0, 0.5, 120), 0.5 * np.exp(np.linspace(0, 3, 80))])
    val = train + 0.1 + 0.01 * rng.standard_normal(train.size)
    rep = Report(tool="logs", target="run", verdict="broken", symptoms=[
        Symptom(id="divergence", metric="loss", step=121, message="m"),
        Symptom(id="overtraining", metric="val_loss", step=120, message="m"),
        Symptom(id="loss-spikes", metric="loss", step=125, message="m"),
    ])
    fig = draw(_run(loss=train, val_loss=val), rep)
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text().strip() in {"divergence", "overtraining", "loss-spikes"}]
    assert len(labels) == 3
    boxes = [t.get_window_extent(r) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(ax.get_window_extent(r).contains(b.x0, b.y0) for b in boxes)  # inside the panel, readable
    _close(fig)


def test_monotone_divergence_is_marked_divergence_not_oscillation():
    climb = 1.0 + np.exp(np.arange(200) / 40.0)
    run = _run(loss=climb)
    rep = diagnose(run)
    fig = draw(run, rep)
    marks = {t.get_text().strip() for t in fig.axes[0].texts}
    assert "divergence" in marks and "oscillation" not in marks
    _close(fig)


def test_html_report_figures_follow_the_same_rules():
    import matplotlib.image as mpimg
    from traintriage import report_html

    steps = [0, 1, 2]
    rep = Report(tool="probe", target="t.py", verdict="healthy",
                 metrics={"step": steps, "loss": [2.3125, 2.3124, 2.3125], "grad_norm": [1.0, 1.1, 0.9],
                          "update_norm": [0.01, 0.011, 0.009],
                          "module_grad_norm_steps": {"encoder.layers.11.attention.self.query": [1.0, 2.0, 3.0]},
                          "module_steps": steps})
    figs = report_html.figures(rep)
    assert {"loss", "norms", "module_grad"} <= set(figs)
    for png in figs.values():
        img = mpimg.imread(io.BytesIO(png))
        assert img.shape[0] > 50 and not math.isnan(float(img.mean()))


def test_log_axis_under_two_decades_labels_two_and_five_only():
    fig = draw(_run(loss=np.geomspace(11.0, 0.45, 200)))
    ax = fig.axes[0]
    ax.figure.canvas.draw()
    lo, hi = ax.get_ylim()
    minor = {t.get_text() for t in ax.yaxis.get_ticklabels(minor=True)
             if t.get_text() and lo <= t.get_position()[1] <= hi}
    assert minor == {"0.5", "2", "5"}, minor  # not 0.6 0.7 ... 9 crowding into each other
    _close(fig)
