"""Agent-friendly views of a Run: per-metric summaries and sampled points that always say what was cut.

`summarize(run)` gives every metric's first / min / max / last / trend plus up to `max_points` evenly spaced
points (always including the first, last, min, max and first non-finite point), with an explicit
"N of M points" note. `summarize(run, metric=NAME, offset=K)` pages through one full series instead.
"""

from __future__ import annotations

import math
from typing import Any

from traintriage.logs.model import LogReadError, Run, Series

# A metric whose last value is within this share of its first is "flat"; else "down" / "up".
TREND_FLAT = 0.05


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _stats(s: Series) -> dict[str, Any]:
    vals, steps = s.values, s.steps
    fin = [i for i, v in enumerate(vals) if math.isfinite(v)]
    out: dict[str, Any] = {"role": s.role, "count": len(vals), "steps": [steps[0], steps[-1]] if steps else []}
    if not fin:
        out["non_finite"] = len(vals)
        return out
    imin = min(fin, key=vals.__getitem__)
    imax = max(fin, key=vals.__getitem__)
    first, last = vals[fin[0]], vals[fin[-1]]
    scale = max(abs(first), 1e-12)
    rel = (last - first) / scale
    out.update(
        first={"step": steps[fin[0]], "value": first},
        min={"step": steps[imin], "value": vals[imin]},
        max={"step": steps[imax], "value": vals[imax]},
        last={"step": steps[fin[-1]], "value": last},
        trend="flat" if abs(rel) < TREND_FLAT else ("down" if rel < 0 else "up"),
        change=rel,
    )
    nf = len(vals) - len(fin)
    if nf:
        first_bad = next(i for i, v in enumerate(vals) if not math.isfinite(v))
        out["non_finite"] = nf
        out["first_non_finite_step"] = steps[first_bad]
    return out


def _sample(s: Series, k: int) -> dict[str, Any]:
    n = len(s.values)
    if n <= k:
        idx = list(range(n))
    else:
        idx = {round(i * (n - 1) / max(k - 1, 1)) for i in range(k)}
        fin = [i for i, v in enumerate(s.values) if math.isfinite(v)]
        if fin:
            idx |= {min(fin, key=s.values.__getitem__), max(fin, key=s.values.__getitem__)}
        bad = next((i for i, v in enumerate(s.values) if not math.isfinite(v)), None)
        if bad is not None:
            idx.add(bad)
        idx = sorted(idx)
    shown = len(idx)
    note = (f"{shown} of {n} points" + ("" if shown == n else
            f", evenly sampled plus min/max/first non-finite; page the full series with "
            f"metric='{s.name}', offset=0, max_points={k} (CLI: --metric '{s.name}' --offset 0 --points {k})"))
    return {"shown": shown, "total": n, "note": note, "sampled": shown < n,
            "steps": [s.steps[i] for i in idx], "values": [_num(s.values[i]) for i in idx]}


def overview(run: Run, max_points: int = 0) -> dict[str, Any]:
    out = {}
    for name, s in run.series.items():
        d = _stats(s)
        if max_points:
            d["points"] = _sample(s, max_points)
        out[name] = _plainify(d)
    return out


def _plainify(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _plainify(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_plainify(v) for v in d]
    if isinstance(d, float):
        return _num(d)
    return d


def summarize(run: Run, max_points: int = 50, offset: int = 0, metric: str | None = None) -> dict[str, Any]:
    if max_points < 1:
        raise ValueError("max_points must be >= 1")
    head = {"path": run.path, "format": run.format, "metadata": run.metadata, "skipped": run.skipped,
            "skipped_lines": run.skipped_lines,
            "first_skip": run.first_skip.model_dump() if run.first_skip is not None else None,
            "files_read": run.files_read, "files_skipped": [f.model_dump() for f in run.files_skipped]}
    if metric is None:
        metrics = overview(run, max_points)
        return {**head, "metric_count": len(metrics), "metrics": metrics}
    if metric not in run.series:
        import difflib

        close = difflib.get_close_matches(metric, list(run.series), n=3, cutoff=0.4)
        raise LogReadError(
            f"no metric '{metric}' in {run.path}"
            + (f"; did you mean: {', '.join(close)}?" if close else f"; metrics: {', '.join(list(run.series)[:20])}")
        )
    s = run.series[metric]
    n = len(s.values)
    if offset < 0 or (offset >= n and n):
        raise ValueError(f"offset {offset} is outside 0..{n - 1}")
    end = min(n, offset + max_points)
    page = {
        "metric": metric, **_stats(s),
        "offset": offset, "shown": end - offset, "total": n,
        "note": f"points {offset}..{end - 1} ({end - offset} of {n})",
        "next_offset": end if end < n else None,
        "steps": s.steps[offset:end],
        "values": [_num(v) for v in s.values[offset:end]],
    }
    if s.wall_times is not None:
        page["wall_times"] = [_num(v) for v in s.wall_times[offset:end]]
    return {**head, "series": _plainify(page)}
