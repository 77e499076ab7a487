"""One self-contained HTML page for a Report (issue 19): the verdict and the ranked findings with their evidence
and handbook entry (rendered, not a path), and the figures of what the probe measured: loss per step, gradient
and update norms, the learning rate actually applied, update/weight ratios, and heatmaps of per-module gradient
norm and update/weight ratio over the sampled steps.

Figures are drawn with matplotlib (the `plot` extra) and embedded as PNG data URIs, so the page opens offline
and can be mailed as one file. `figures(report)` returns the PNGs alone (MCP sends them as image blocks).
Pure functions: a Report in, bytes/str out; the CLI and the server only choose where they go.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from pathlib import Path
from typing import Any

from traintriage.figure_axes import marker, readable_axes, short, wants_log
from traintriage.probe.module_series import MAX_MODULES  # heatmap rows: one limit for the series and the page
from traintriage.report import VERDICT_MEANING, Report

# Colours by severity/verdict: red for what the evidence shows is wrong, amber for a risk, grey for context.
_SEV = {"error": "#b3261e", "warning": "#a05a00", "info": "#5f6368"}
_VERDICT = {"healthy": "#1e7b34", "broken": "#b3261e", "inconclusive": "#a05a00", "crashed": "#b3261e",
            "timeout": "#a05a00"}


class HtmlUnavailable(RuntimeError):
    """matplotlib is not installed: the page needs it for its figures."""


def _plt():  # noqa: ANN202
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise HtmlUnavailable("the HTML report needs matplotlib: pip install 'traintriage[plot]'") from e
    return plt


def _png(fig) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _num(xs: list[Any]) -> list[float]:
    return [float(x) if isinstance(x, int | float) and math.isfinite(x) else math.nan for x in xs]


def _line(ax, steps: list[int], ys: list[Any], label: str) -> None:  # noqa: ANN001
    y = _num(ys)
    ax.plot(steps[: len(y)], y, marker=marker(len(y)), markersize=3, label=label)


def _logy_if_wide(ax, *series: list[Any]) -> None:  # noqa: ANN001
    if wants_log(v for s in series for v in _num(s)):
        ax.set_yscale("log")


def _module_matrix(report: Report, key: str) -> tuple[list[str], list[list[float]]] | None:
    per = (report.metrics or {}).get(key)
    if not isinstance(per, dict) or not per:
        return None
    top = sorted(per, key=lambda m: -max((v for v in _num(per[m]) if not math.isnan(v)), default=0.0))[:MAX_MODULES]
    return top, [_num(per[m]) for m in top]


def figures(report: Report) -> dict[str, bytes]:
    """Named PNG figures of what the report measured (empty when it measured no steps)."""
    plt = _plt()
    m = report.metrics or {}
    steps = m.get("step") or list(range(len(m.get("loss") or [])))
    out: dict[str, bytes] = {}
    if m.get("loss"):
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        _line(ax, steps, m["loss"], "loss")
        _logy_if_wide(ax, m["loss"])
        ax.set(title="Loss per optimizer step", xlabel="step", ylabel="loss")
        readable_axes(ax)
        ax.grid(alpha=0.3)
        out["loss"] = _png(fig)
    if m.get("grad_norm") or m.get("update_norm"):
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        for k, label in (("grad_norm", "gradient norm (before clipping)"),
                         ("grad_norm_at_step", "gradient norm the optimizer saw (after clipping)"),
                         ("update_norm", "update norm ||Δθ||")):
            if m.get(k) and not (k == "grad_norm_at_step" and m[k] == m.get("grad_norm")):  # no clipping: one line
                _line(ax, steps, m[k], label)
        ax.set_yscale("log")
        ax.set(title="Gradient and update norms", xlabel="step", ylabel="L2 norm (log scale)")
        readable_axes(ax)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        out["norms"] = _png(fig)
    if m.get("lr"):
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        for g, row in enumerate(m["lr"]):
            _line(ax, steps, row, f"group {g}")
        _logy_if_wide(ax, *m["lr"])
        ax.set(title="Learning rate applied (per parameter group)", xlabel="step", ylabel="lr")
        readable_axes(ax)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        out["lr"] = _png(fig)
    if m.get("rel_update_per_group"):
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        for g, row in enumerate(m["rel_update_per_group"]):
            _line(ax, steps, row, f"group {g}")
        ax.set_yscale("log")
        ax.set(title="Update / weight ratio ||Δθ|| / ||θ|| (per group)", xlabel="step", ylabel="ratio (log scale)")
        readable_axes(ax)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        out["rel_update"] = _png(fig)
    for key, title, name in (("module_grad_norm_steps", "Gradient norm per module (log10)", "module_grad"),
                             ("module_rel_update_steps", "Update / weight ratio per module (log10)", "module_update")):
        mat = _module_matrix(report, key)
        if mat is None:
            continue
        mods, rows = mat
        cols = m.get("module_steps") or list(range(max(len(r) for r in rows)))
        data = [[math.log10(v) if v > 0 else math.nan for v in r] for r in rows]
        fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.28 * len(mods)))
        im = ax.imshow(data, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(len(mods)), [short(m) for m in mods], fontsize=7)
        ticks = list(range(0, len(cols), max(1, len(cols) // 8)))
        ax.set_xticks(ticks, [str(cols[i]) for i in ticks], fontsize=7)
        ax.set(title=title, xlabel="step")
        fig.colorbar(im, ax=ax, label="log10")
        out[name] = _png(fig)
    if not any(k.startswith("module_") and k.endswith("_steps") for k in m) and m.get("module_grad_norm_first"):
        first, last = m["module_grad_norm_first"], m.get("module_grad_norm_last") or {}
        mods = list(first)[:MAX_MODULES]
        fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.28 * len(mods)))
        ys = range(len(mods))
        ax.barh([y + 0.2 for y in ys], [first[k] or 0 for k in mods], height=0.4, label="first step")
        ax.barh([y - 0.2 for y in ys], [last.get(k) or 0 for k in mods], height=0.4, label="last step")
        ax.set_yticks(list(ys), [short(m) for m in mods], fontsize=7)
        ax.set_xscale("log")
        ax.set(title="Gradient norm per module", xlabel="L2 norm (log scale)")
        ax.legend(fontsize=8)
        out["module_grad"] = _png(fig)
    return out


def _md(text: str) -> str:
    """The handbook's light Markdown (code spans, bold, links) as HTML; everything else escaped."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', t)
    return "<br>".join(t.splitlines())


def _entry_html(fid: str) -> str:
    try:
        from traintriage.catalogue import resolve

        e = resolve(fid)
    except Exception:  # noqa: BLE001 - a page without its handbook entry is still a page
        e = None
    if e is None:
        return ""
    srcs = "".join(f'<li><a href="{html.escape(s.url)}">{html.escape(s.title)}</a></li>' for s in e.sources)
    return (f'<details><summary>Handbook: {html.escape(e.title)}</summary><dl>'
            f"<dt>Symptoms</dt><dd>{_md(e.symptoms)}</dd><dt>Cause</dt><dd>{_md(e.cause)}</dd>"
            f"<dt>Confirm</dt><dd>{_md(e.confirm)}</dd><dt>Fix</dt><dd>{_md(e.fix)}</dd>"
            f"<dt>Sources</dt><dd><ul>{srcs}</ul></dd></dl></details>")


def _evidence_html(ev: dict[str, Any]) -> str:
    rows = []
    for k, v in list(ev.items())[:20]:
        val = f"{v:.4g}" if isinstance(v, float) else v if isinstance(v, str | int | bool) or v is None else str(v)
        rows.append(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(val)[:300])}</td></tr>")
    return f'<table class="ev">{"".join(rows)}</table>' if rows else ""


CSS = """body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#202124}
h1{font-size:20px}.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.finding{border-left:4px solid;padding:6px 12px;margin:12px 0;background:#fafafa}.sev{font-weight:600}
table.ev{border-collapse:collapse;font-size:12px;margin:6px 0}table.ev th{text-align:left;padding:1px 10px 1px 0;
color:#5f6368;font-weight:500}code{background:#eef;padding:0 3px}img{max-width:100%;display:block;margin:10px 0}
dt{font-weight:600;margin-top:6px}.notes li{color:#3c4043}"""


def render_html(report: Report) -> str:
    """The whole page as one string (figures embedded)."""
    try:
        figs = figures(report)
    except HtmlUnavailable as e:
        figs, missing = {}, str(e)
    else:
        missing = ""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>traintriage {html.escape(report.tool)}: "
             f"{html.escape(Path(report.target).name)}</title><style>{CSS}</style></head><body>",
             f"<h1>traintriage {html.escape(report.tool)}: <code>{html.escape(report.target)}</code></h1>",
             f'<p>verdict <span class="verdict" style="background:{_VERDICT.get(report.verdict, "#5f6368")}">'
             f"{html.escape(report.verdict)}</span> &nbsp; {report.seconds:.1f} s &nbsp; "
             f'<span class="meaning">{html.escape(VERDICT_MEANING.get(report.verdict, ""))}</span></p>']
    if report.findings:
        parts.append(f"<h2>Findings ({len(report.findings)}), most likely first</h2>")
    for f in report.findings:
        colour = _SEV.get(f.severity, "#5f6368")
        where = f" at <code>{html.escape(f.where)}</code>" if f.where else ""
        parts.append(f'<div class="finding" style="border-color:{colour}"><span class="sev" style="color:{colour}">'
                     f"{html.escape(f.severity)}</span> <b>{html.escape(f.id)}</b> (confidence {f.confidence:.2f})"
                     f"{where}<p>{_md(f.message)}</p>{_evidence_html(f.evidence)}{_entry_html(f.id)}"
                     f"<p>More: <code>traintriage explain {html.escape(f.id)}</code></p></div>")
    if report.symptoms:
        parts.append("<h2>Symptoms</h2><ul>" + "".join(
            f"<li><b>{html.escape(s.id)}</b>: {html.escape(s.message)} (candidates: "
            f"{html.escape(', '.join(s.candidates[:5]))})</li>" for s in report.symptoms) + "</ul>")
    if figs:
        parts.append("<h2>What the probe measured</h2>")
        for name, png in figs.items():
            parts.append(f'<img alt="{name}" data-figure="{name}" src="data:image/png;base64,'
                         f'{base64.b64encode(png).decode()}">')
    elif missing:
        parts.append(f"<p>{html.escape(missing)}</p>")
    if report.notes:
        parts.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
                     + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: Report, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(render_html(report), encoding="utf-8")
    return p
