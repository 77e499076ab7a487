"""`traintriage grads`: the metric-stuck method measured on the user's own script (seed 000's three questions).

Two halves, like the probe:

* **child side** (probe/grads_record.py: `child_hook`, `ablate_hook`), called by the probe harness when its config carries a
  `grads` key. At a few sampled optimizer steps, right before the real backward (the graph is still alive),
  it takes the loss terms captured since the last backward (every standard loss call, plus
  `traintriage.term(...)` markers) and runs `gradients.decompose(loss, terms, params)`: d(loss)/d(term),
  ||d(term)/d(params)||, each term's effective gradient per module, pairwise cosines. It writes one `grads`
  record per sampled step. `ablate_hook` multiplies one named term by zero (question 3's "term off").
* **parent side** (`grads_script`, `grads_findings`): runs the script once normally and, with `ablate=`,
  once more with that term's contribution removed (same script, same seed), reads the records, places each
  term on the rough map and returns findings (loss-saturated, structural-ceiling, competing-losses,
  same-basin).

Term names: the loss function's name (`mse_loss`, `cross_entropy`, ...) or the marker's name; the k-th call
of the same name within one optimizer step is `name#k` (k >= 2). `--ablate` and `--metric` take these names.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from traintriage.probe.grads_record import child_config, sample_steps
from traintriage.report import Finding, Report

__all__ = ["UnknownTermError", "child_config", "grads_findings", "grads_script", "resolve_term", "rough_map_reading",
           "sample_steps", "terms_found", "terms_seen", "unexplained"]

# --- thresholds (the rough-map thresholds themselves live in traintriage.gradients) --------------------
# A reading of "~0" (saturated / structural) must hold at every sampled step: a term that its own optimizer
# has satisfied also has a ~0 gradient at the end of a healthy run. Seed 000 asks about a metric that *won't*
# move, i.e. one that is flat from where training starts.
# A conflict between two terms must show at this fraction of the sampled steps. At any stationary point of
# a sum the per-term gradients cancel (cosine -1), so one late sample is not evidence of a fight; PCGrad
# (Yu et al., 2020) measures conflict along the trajectory, not at convergence.
CONFLICT_STEP_SHARE = 2 / 3
# Values averaged at the end of each run to read where the metric "ends up" (one noisy step must not decide;
# same window as the probe's overfit check).
FINAL_WINDOW = 3
# A term "did not improve" when it fell by less than this fraction of its start value over the run (or
# rose): used only to raise loss-saturated / competing-losses from warning to error (the metric is stuck).
STUCK_CHANGE = 0.1
# Decomposing a huge model at a sampled step costs several backward passes; above this many trainable
# elements we still decompose, but say in the notes why the run was slower.
LARGE_MODEL_NUMEL = 50_000_000


class UnknownTermError(ValueError):
    """--ablate / --metric named a term the script never computed."""


def _term_series(records: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Per-step values of every scalar term (keys name / name#k), from the probe's step records."""
    series: dict[str, list[float | None]] = {}
    steps = [r for r in records if r.get("kind") == "step" and r.get("opt") == 0]
    for i, s in enumerate(steps):
        seen: dict[str, int] = {}
        for t in s.get("terms") or []:
            n = t["name"]
            seen[n] = seen.get(n, 0) + 1
            key = n if seen[n] == 1 else f"{n}#{seen[n]}"
            col = series.setdefault(key, [None] * i)
            col.extend([None] * (i - len(col)))
            col.append(t.get("value"))
    n = len(steps)
    for col in series.values():
        col.extend([None] * (n - len(col)))
    return series


def _end(vals: list[float | None]) -> float | None:
    xs = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    if not xs:
        return None
    tail = xs[-FINAL_WINDOW:]
    return sum(tail) / len(tail)


def _first(vals: list[float | None]) -> float | None:
    return next((v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)), None)


def _stuck(v0: float | None, v1: float | None) -> bool:
    """A minimized term that fell by less than STUCK_CHANGE of its start value (or rose)."""
    return v0 is not None and v1 is not None and (v0 - v1) <= STUCK_CHANGE * max(abs(v0), 1e-12)


def _from_floor(vals: list[float | None]) -> bool:
    """The term never went below its first value: it started at its floor (a KL at the prior) and rose."""
    xs = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    return bool(xs) and min(xs) >= xs[0]


def _never_moved(ab: dict[str, Any]) -> bool:
    """The metric ended within SAME_VALUE_TOL of where it started (the test classify_rough_map uses)."""
    from traintriage.gradients import SAME_VALUE_TOL

    i, on = ab.get("init"), ab.get("on")
    return i is not None and on is not None and abs(i - on) <= SAME_VALUE_TOL * max(abs(on), 1e-12)


def terms_seen(records: list[dict[str, Any]]) -> list[str]:
    """Every term key the run computed (decomposed or only valued), in first-seen order."""
    out: list[str] = []
    for r in records:
        if r.get("kind") == "grads":
            for t in (r.get("decomposition") or {}).get("terms", []):
                if t["name"] not in out:
                    out.append(t["name"])
            for k in r.get("skipped") or []:
                if k not in out:
                    out.append(k)
    for k in _term_series(records):
        if k not in out:
            out.append(k)
    return out


def terms_found(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The additive terms the child found in the loss's autograd graph, across sampled steps, in first-seen
    order: [{"id": "t1", "name", "expr", "where", "watch"}]. `name` is the key --ablate and the series use."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("kind") != "grads":
            continue
        watch = {w["key"]: w for w in r.get("watch") or []}
        for k, e in (r.get("exprs") or {}).items():
            if k not in out:
                out[k] = {"id": f"t{len(out) + 1}", "name": k, "expr": e.get("expr") or k, "where": e.get("where"),
                          "watch": watch.get(k)}
    return list(out.values())


def resolve_term(records: list[dict[str, Any]], name: str) -> str:
    """The term key that `name` means: a key itself, a discovered term's id (`t2`) or its expression text."""
    for t in terms_found(records):
        if name in (t["name"], t["id"], t["expr"]) or " ".join(name.split()) == t["expr"]:
            return t["name"]
    return name


def _label(name: str, found: dict[str, dict[str, Any]]) -> str:
    """`name` for a message: with its expression and source when the graph walk found it."""
    t = found.get(name)
    if not t or (t["expr"] == name and not t.get("where")):
        return repr(name)
    expr = "" if t["expr"] == name else f" = `{t['expr']}`"
    return f"{name!r}{expr}" + (f" ({t['where']})" if t.get("where") else "")


def _transforms_over(rec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [tr for tr in rec.get("transforms") or [] if name in tr.get("terms", [])]


def _opposite_halves(grecs: list[dict[str, Any]], a: str, b: str) -> tuple[float, float] | None:
    """The constant targets of `a` and `b` when they are the two halves of a real-vs-fake classifier loss
    (a GAN discriminator: the same loss on two batches with opposite constant labels), else None.

    Such halves pull the discriminator in opposite directions by design: at D's equilibrium their gradients
    cancel (cosine -1), which is the game working, not a metric-competing-losses fault."""
    base = [x.split("#")[0] for x in (a, b)]
    if base[0] != base[1]:
        return None
    for r in grecs:
        ts = r.get("targets") or {}
        ta, tb = ts.get(a), ts.get(b)
        if ta is not None and tb is not None and ta != tb:
            return ta, tb
    return None


# The terms found explain the loss when their parts' gradients sum to the whole gradient within this fraction
# of its norm (the issue's "~90% explained"); a larger residual means a piece of the loss has no name yet
# (made inside a module's forward, or beyond MAX_TERMS), and the reading cannot clear the run.
RESIDUAL_EXPLAINED = 0.1


def unexplained(records: list[dict[str, Any]]) -> float | None:
    """The largest sum-of-parts residual over the sampled steps when it exceeds RESIDUAL_EXPLAINED, else None."""
    res = [(r["decomposition"].get("parts_residual")) for r in records
           if r.get("kind") == "grads" and r.get("decomposition")]
    worst = max((x for x in res if x is not None), default=None)
    return worst if worst is not None and worst > RESIDUAL_EXPLAINED else None


def rough_map_reading(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The rough-map reading triage adds to its report: the terms found, the outer transforms and each term's
    row at the last sampled step, when the loss has two or more terms or a saturated outer transform (a single
    plain term has nothing to compare, so the map says nothing triage's other checks do not)."""
    from traintriage.gradients import SATURATION_SLOPE

    grecs = [r for r in records if r.get("kind") == "grads" and r.get("decomposition")]
    if not grecs:
        return None
    found = terms_found(records)
    transforms = grecs[-1].get("transforms") or []
    saturated = [t for t in transforms if t.get("slope") is not None and t["slope"] < SATURATION_SLOPE]
    if len(found) < 2 and not saturated:
        return None
    label = {t["name"]: t for t in found}
    rows = _rough_map_table(records, None)
    for r in rows:
        if r["cause"] == "competing-losses" and any(_opposite_halves(grecs, r["term"], o["term"]) for o in rows):
            r["cause"] = None  # a discriminator's real/fake halves: opposed by design (see _opposite_halves)
            r["row"] = "opposed by design: the real and fake halves of one classifier loss (a GAN discriminator's)"
    lines = [f"{label[r['term']]['id'] + ' ' if r['term'] in label else ''}`{label.get(r['term'], {}).get('expr', r['term'])}`"
             f" -> {r['row'] if r['row'].startswith('opposed') else r['cause'] or 'optimized'}"
             for r in rows]
    lines += [f"outer {t['op']} `{t['expr']}`: d {t['op']}/d inner {_fmt(t.get('slope'))}" for t in transforms]
    return {"terms": [{k: v for k, v in t.items() if k != "watch"} for t in found], "transforms": transforms,
            "rows": rows, "summary": "; ".join(lines), "unexplained_residual": unexplained(records)}


def _readings(rec: dict[str, Any], ablation: dict[str, Any] | None) -> dict[str, Any]:
    """Rough-map reading of every term of one `grads` record (ablation feeds the ablated term's column 3)."""
    from traintriage.gradients import SATURATION_SHARE, SATURATION_SLOPE, Decomposition, classify_rough_map

    d = Decomposition.model_validate(rec["decomposition"])
    multi = len(d.terms) > 1
    max_eff = max((t.effective_norm for t in d.terms), default=0.0) or None
    max_slope = max((abs(t.dloss_dterm or 0.0) for t in d.terms), default=0.0) or None
    # ||d(term)/d(params)|| scales with the term's own units, so a saturated term (MSE ~1e5 under a log1p)
    # must not be the yardstick that makes every live term look "~0": compare with the live terms only.
    live = [t for t in d.terms if abs(t.dloss_dterm or 0.0) >= SATURATION_SLOPE
            and (not max_slope or abs(t.dloss_dterm or 0.0) >= SATURATION_SHARE * max_slope)]
    max_raw = max((t.dterm_dparam_norm for t in live), default=0.0) or None
    norms = {t.name: t.effective_norm for t in d.terms}
    out = {}
    for t in d.terms:
        worst, ratio, other = None, None, None
        for pair, c in d.cosines.items():
            a, b = pair.split("|")
            if t.name not in (a, b):
                continue
            o = b if a == t.name else a
            if worst is None or c < worst:
                big = max(norms[o], t.effective_norm)
                worst, ratio, other = c, (min(norms[o], t.effective_norm) / big if big else 0.0), o
        kw: dict[str, Any] = {}
        if ablation and ablation.get("term") == t.name and ablation.get("metric") == t.name:
            kw = {"metric_on": ablation.get("on"), "metric_off": ablation.get("off"),
                  "metric_init": ablation.get("init")}
        r = classify_rough_map(
            t.name, dloss_dterm=t.dloss_dterm or 0.0, effective_norm=t.effective_norm,
            dterm_dparam_norm=t.dterm_dparam_norm,
            max_effective_norm=max_eff if multi else None,
            max_dterm_dparam_norm=max_raw if multi else None,
            max_dloss_dterm=max_slope if multi else None,
            min_cosine=worst, other_norm_ratio=ratio, **kw,
        )
        out[t.name] = {"reading": r, "term": t, "other": other,
                       "connected": (rec.get("connected") or {}).get(t.name, True)}
    return out


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def grads_findings(records: list[dict[str, Any]], *, ablation: dict[str, Any] | None = None) -> list[Finding]:
    """Rough-map findings from one probe run's evidence records (the `grads` records the child hook wrote).

    `ablation` (from grads_script) is {"term", "metric", "on", "off", "init"}. Returns [] when the run has no
    `grads` records (the hooks were off) or no term worth a finding. Used by `traintriage grads` and triage.
    """
    from traintriage.gradients import ROWS

    grecs = [r for r in records if r.get("kind") == "grads" and r.get("decomposition")]
    if not grecs:
        return []
    series = _term_series(records)
    per = [_readings(r, ablation) for r in grecs]
    names: list[str] = []
    for p in per:
        names += [n for n in p if n not in names]
    findings: list[Finding] = []
    pairs_done: set[tuple[str, str]] = set()
    found = {t["name"]: t for t in terms_found(records)}
    for name in names:
        lab = _label(name, found)
        rows = [(r["step"], p[name]) for r, p in zip(grecs, per, strict=True) if name in p]
        causes = [x["reading"].cause for _, x in rows]
        vals = series.get(name, [])
        v0, v1 = _first(vals), _end(vals)
        stuck = _stuck(v0, v1)
        per_step = [{"step": s, "value": x["term"].value, "dloss_dterm": x["term"].dloss_dterm,
                     "dterm_dparam_norm": x["term"].dterm_dparam_norm, "effective_norm": x["term"].effective_norm,
                     **{k: v for k, v in x["reading"].evidence.items()
                        if k in ("slope_share", "dterm_dparam_share", "effective_share", "min_cosine")}}
                    for s, x in rows]
        base_ev = {"term": name, "steps": per_step, "value_start": v0, "value_end": v1,
                   **({"expr": found[name]["expr"], "where": found[name]["where"]} if name in found else {})}
        last = rows[-1][1]
        if all(c == "loss-saturated" for c in causes):
            disconnected = not any(x["connected"] for _, x in rows)
            trs = _transforms_over(grecs[-1], name)
            if disconnected:
                msg = (f"term {lab} never reaches the loss that is backpropagated (d(loss)/d(term) is "
                       "undefined: it is detached, logged but not added, or used by another backward).")
            elif trs:
                tr = trs[-1]
                msg = (f"d(loss)/d(term) is ~0 at every sampled step for {lab} "
                       f"({_fmt(last['term'].dloss_dterm)} at the last): it sits under the outer {tr['op']} "
                       f"`{tr['expr']}`" + (f" ({tr['where']})" if tr.get("where") else "")
                       + f", whose slope d {tr['op']}/d inner is {_fmt(tr.get('slope'))} at an inner value of "
                       f"{_fmt(tr.get('inner_value'))}: the transform is saturated, so the optimizer cannot "
                       "improve what is under it. Rescale the inner quantity (standardize the target) or drop "
                       "the transform.")
            else:
                msg = (f"d(loss)/d({name}) is ~0 at every sampled step ({_fmt(last['term'].dloss_dterm)} at the "
                       f"last, {_fmt(last['reading'].evidence.get('slope_share'))} of the steepest term's): the "
                       "loss no longer reacts to this term, so the optimizer cannot improve it. Look for a "
                       "saturating transform (log1p, tanh, sigmoid, clamp) or a near-zero weight around it.")
            slopes = [x["term"].dloss_dterm for _, x in rows]
            weighted = (not disconnected and not trs and len(rows) > 1 and None not in slopes
                        and max(slopes) - min(slopes) <= 1e-6 * max(abs(v) for v in slopes))
            if weighted and not (ablation and name in (ablation.get("term"), ablation.get("metric"))):
                continue  # a small constant weight is the author's choice; it matters only for the metric asked about
            if weighted:
                # the slope is the same at every step: a constant weight the author chose (a small regularizer),
                # not an operating point where the loss stopped reacting; it is why *this* term will not move
                msg = (f"{lab} enters the loss with a constant weight of {_fmt(slopes[-1])} (the same "
                       "d(loss)/d(term) at every sampled step, no saturating transform): the optimizer barely "
                       "moves it. Expected for a small regularizer; raise the weight if this is the metric you "
                       "need to move.")
            findings.append(Finding(
                id="loss-saturated", severity="error" if (stuck or disconnected) and not weighted else "warning",
                confidence=0.5 if weighted else 0.85 if stuck or disconnected else 0.6, source="grads", message=msg,
                evidence={**base_ev, "disconnected": disconnected, "stuck": stuck, "transforms": trs,
                          "rough_map_row": "d(loss)/d(term) ~0 | any | any -> " + ROWS["loss-saturated"]}))
            continue
        ab = ablation if ablation and ablation.get("term") == name and ablation.get("metric") == name else None
        # Column 3 is read at the first sampled step: at the end a satisfied term's gradient is ~0 anyway.
        first = rows[0][1]
        struct_all = all(c == "structural-ceiling" for c in causes)
        # With an ablation, a structural call also needs the metric to have stayed where it started (seed 000:
        # "the optimization never moved it"); a tiny-but-live term that drifts is not a ceiling.
        struct_ab = (ab is not None and first["reading"].cause == "structural-ceiling"
                     and first["reading"].same_with_term_off is True and _never_moved(ab))
        if struct_all or struct_ab:
            confirmed = ab is not None and first["reading"].same_with_term_off is True
            findings.append(Finding(
                id="structural-ceiling", severity="error", confidence=0.9 if confirmed else 0.75, source="grads",
                message=(f"the loss pulls on {lab} (d(loss)/d(term) {_fmt(last['term'].dloss_dterm)}), but "
                         f"||d({name})/d(params)|| is {_fmt(last['term'].dterm_dparam_norm)}, "
                         f"{_fmt(last['reading'].evidence.get('dterm_dparam_share'))} of the other terms': the "
                         "trainable parameters cannot move it. Change the parameterization, not the weight."
                         + (f" Ablation: it ends at {_fmt(ab['on'])} with the term and {_fmt(ab['off'])} "
                            "without it." if ab else "")),
                evidence={**base_ev, "ablation": ab, "stuck": stuck,
                          "rough_map_row": "large | ~0 | yes -> " + ROWS["structural-ceiling"]}))
            continue
        if ab is not None and first["reading"].cause == "same-basin":
            findings.append(Finding(
                id="same-basin", severity="warning", confidence=0.7, source="grads",
                message=(f"{lab} is optimized (d(loss)/d(term) {_fmt(last['term'].dloss_dterm)}, its gradient "
                         f"moves the parameters), yet with its contribution switched off it ends at "
                         f"{_fmt(ab['off'])} vs {_fmt(ab['on'])} with it (from {_fmt(ab['init'])}): the rest "
                         "of the objective reaches the same basin; the term is redundant here. Not a bug, but "
                         "do not credit the term for the metric."),
                evidence={**base_ev, "ablation": ab,
                          "rough_map_row": "large | large | yes -> " + ROWS["same-basin"]}))
            continue
        conflict_steps = [(s, x) for s, x in rows if x["reading"].cause == "competing-losses"]
        if rows and len(conflict_steps) >= CONFLICT_STEP_SHARE * len(rows):
            others = [x["other"] for _, x in conflict_steps]
            other = max(set(others), key=others.count)
            pair = tuple(sorted((name, other)))
            if pair in pairs_done:
                continue
            pairs_done.add(pair)
            if _opposite_halves(grecs, *pair):
                continue  # a discriminator's real and fake halves: opposed by design (see _opposite_halves)
            cos = [x["reading"].evidence.get("min_cosine") for _, x in conflict_steps]
            ratio = [x["reading"].evidence.get("other_norm_ratio") for _, x in conflict_steps]
            mods = sorted({m for r in grecs for m, ps in ((r["decomposition"].get("module_conflicts") or {})
                           .items()) if any(set(q.split("|")) == set(pair) for q in ps)})
            ov = series.get(other, [])
            o0, o1 = _first(ov), _end(ov)
            other_stuck = _stuck(o0, o1)
            ev = {**base_ev, "other": other, "cosines": cos, "norm_ratios": ratio,
                  "conflict_steps": [s for s, _ in conflict_steps], "sampled_steps": [s for s, _ in rows],
                  "modules_in_conflict": mods[:20], "other_value_start": o0, "other_value_end": o1,
                  "rough_map_row": "large | large, opposed | no -> " + ROWS["competing-losses"]}
            if ablation and ablation.get("term") in pair and ablation.get("metric") in pair:
                ev["ablation"] = ablation
            # A trade-off is the design working, not a fault: the stuck term never went below where it started
            # (it starts at its floor, like a VAE's KL at the prior, and is pulled up) while the other term
            # fell, and the loss as a whole still descends. A fight whose sum does not move (the two pushes
            # cancel) or that holds a term above its start is an error.
            both = [r.get("loss") for r in grecs if {name, other} <= {t["name"] for t in
                                                                       r["decomposition"]["terms"]}]
            loss_stuck = len(both) < 2 or _stuck(both[0], both[-1])
            tradeoff = any(st and _from_floor(vals_) and not _stuck(*oth)
                           for st, vals_, oth in ((stuck, vals, (o0, o1)), (other_stuck, ov, (v0, v1))))
            ev.update(loss_start=both[0] if both else None, loss_end=both[-1] if both else None,
                      loss_stuck=loss_stuck, tradeoff=tradeoff)
            # The message below says "their sum cancels the push": an error needs that measured, a sum that did
            # not fall at all over the sampled steps. Two terms of a loss that still descends pull against each
            # other in nearly every regularised model (a VAE's reconstruction and KL, a data term and its
            # penalty, a critic's real and fake means, an entropy bonus): a warning, the pattern that is
            # sometimes intended (refs/triage.md, severity policy). The relative STUCK_CHANGE cannot decide
            # this: a summed loss with a large floor (a VAE's per-pixel BCE sum) falls a few % and is healthy.
            sum_cancels = len(both) < 2 or not (both[-1] < both[0])
            fault = (stuck or other_stuck) and sum_cancels and (loss_stuck or not tradeoff)
            if tradeoff and not loss_stuck:
                continue  # a trade-off the loss descends through: the rough-map table still shows the cosine
            findings.append(Finding(
                id="competing-losses", severity="error" if fault else "warning",
                confidence=min(0.9, 0.5 + 0.4 * -min(c for c in cos if c is not None)), source="grads",
                message=(f"{lab} and {_label(other, found)} pull the shared parameters in opposite directions (gradient "
                         f"cosine {', '.join(_fmt(c) for c in cos)} at steps "
                         f"{', '.join(str(s) for s, _ in conflict_steps)}; norm ratio "
                         f"{_fmt(min(r for r in ratio if r is not None))})"
                         + (f", conflicting in {', '.join(mods[:4])}" if mods else "")
                         + (": their sum cancels the push (the loss did not fall). Balance" if sum_cancels else
                            f"; the loss still falls ({_fmt(both[0])} -> {_fmt(both[-1])}), so the fight slows a "
                            "term rather than stopping it: a trade-off that is often intended. If a metric tied "
                            "to one term is stuck, balance")
                         + " their gradient norms or project out the conflict (PCGrad)."),
                evidence=ev))
    return findings + _detached_findings(grecs)


def _detached_findings(grecs: list[dict[str, Any]]) -> list[Finding]:
    """A scalar added to the loss with no gradient (the tracer saw it enter an addition): a term that no
    parameter can move, whatever its weight. The rough map's first row, d(loss)/d(term) undefined."""
    from traintriage.gradients import ROWS

    seen: dict[str, dict[str, Any]] = {}
    for r in grecs:
        for d in r.get("detached") or []:
            seen.setdefault(d["expr"], {**d, "steps": []})["steps"].append(r["step"])
    return [Finding(
        id="loss-saturated", severity="error", confidence=0.85, source="grads",
        message=(f"the term `{e}` ({d['where']}) is added to the loss without a gradient (value {_fmt(d['value'])}): "
                 "it was computed from tensors that do not require grad (under torch.no_grad(), .detach(), "
                 ".item() or numpy), so d(loss)/d(term) does not exist and no parameter can move it. Compute it "
                 "with grad enabled."),
        evidence={"term": e, "expr": e, "where": d["where"], "value": d["value"], "disconnected": True,
                  "sampled_steps": d["steps"], "rough_map_row": "d(loss)/d(term) ~0 | any | any -> "
                  + ROWS["loss-saturated"]}) for e, d in seen.items()]


def grads_script(
    script: str | os.PathLike,
    *,
    steps: int = 40,
    timeout: float = 120.0,
    args: Sequence[str] = (),
    cwd: str | os.PathLike | None = None,
    ablate: str | None = None,
    metric: str | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> Report:
    """Run the script (observe mode: nothing it sees is changed) with the loss terms decomposed at sampled
    steps; with `ablate`, run it again with that term's contribution zeroed and compare `metric` (default:
    the ablated term's own value) between the two runs. Raises FileNotFoundError for a missing script and
    UnknownTermError when `ablate` / `metric` names a term the script never computed."""
    from traintriage.probe.evidence import build_evidence, build_report
    from traintriage.probe.runner import run_child
    from traintriage.report import verdict_for

    p = Path(script)
    if not p.is_file():
        raise FileNotFoundError(f"no such script: {script}")
    total = steps * (2 if ablate else 1)

    def prog(offset: int, label: str) -> Callable[[int, int, str], None] | None:
        if on_progress is None:
            return None
        return lambda d, _t, m: on_progress(offset + d, total, f"{label}: {m}")

    raw = run_child(p, mode="observe", steps=steps, timeout=timeout, args=args, cwd=cwd,
                    on_progress=prog(0, "normal run"), cancel=cancel,
                    extra=child_config(steps, metric=metric or ablate))
    records = raw["records"]
    ablate = resolve_term(records, ablate) if ablate else ablate
    metric = resolve_term(records, metric) if metric else metric
    seen = terms_seen(records)
    ok = raw["status"] not in ("timeout", "cancelled") and any(r.get("kind") == "grads" for r in records)
    for flag, name in (("--ablate", ablate), ("--metric", metric)):
        if name and ok and name not in seen:
            raise UnknownTermError(
                f"{flag} {name!r}: the script computed no loss term of that name; terms seen: "
                + (", ".join(seen) if seen else "none (no standard loss call and no traintriage.term marker)"))
    notes: list[str] = []
    ablation: dict[str, Any] | None = None
    raw_off = None
    if ablate and ok:
        raw_off = run_child(p, mode="observe", steps=steps, timeout=timeout, args=args, cwd=cwd,
                            on_progress=prog(steps, "ablated run"), cancel=cancel,
                            extra=child_config(steps, ablate=ablate, metric=metric or ablate, decompose=False,
                                               watch=[t["watch"] for t in terms_found(records) if t["watch"]]))
        mname = metric or ablate
        on_s, off_s = _term_series(records).get(mname, []), _term_series(raw_off["records"]).get(mname, [])
        ablation = {"term": ablate, "metric": mname, "init": _first(on_s), "on": _end(on_s), "off": _end(off_s),
                    "init_off": _first(off_s), "steps_on": len(on_s), "steps_off": len(off_s),
                    "ablated": any(r.get("kind") == "grads-ablated" for r in raw_off["records"]),
                    "status_off": raw_off["status"]}
        if ablation["init"] is not None and ablation["init_off"] is not None and not math.isclose(
                ablation["init"], ablation["init_off"], rel_tol=1e-4, abs_tol=1e-8):
            notes.append(f"the metric {mname!r} starts at {ablation['init']:.6g} in one run and "
                         f"{ablation['init_off']:.6g} in the other: the script does not seed its RNG, so the "
                         "ablation compares two different starts (set torch.manual_seed at the top).")
        if ablation["on"] is None or ablation["off"] is None:
            notes.append(f"the metric {mname!r} has no scalar value in "
                         f"{'the ablated run' if ablation['off'] is None else 'the normal run'}; column 3 "
                         "of the rough map is unknown.")
            ablation = {**ablation, "on": None, "off": None} if ablation else None
    ev = build_evidence(raw)
    base = build_report(ev, raw, tool="grads")
    crash = [f for f in base.findings if f.source == "crash"]
    if ablation and ablation.get("on") is not None:
        findings = grads_findings(records, ablation=ablation)
    else:
        findings = grads_findings(records)
    findings = crash + findings
    grecs = [r for r in records if r.get("kind") == "grads" and r.get("decomposition")]
    errs = [r for r in records if r.get("kind") == "grads-error"]
    if not grecs and base.verdict not in ("crashed", "timeout"):
        notes.append("no loss term was decomposed: the script made no backward() on a sampled step, or its loss "
                     "uses no standard loss function and no traintriage.term(...) marker.")
    for e in errs[:3]:
        notes.append(f"decomposition failed at step {e.get('step')}: {e.get('error')}")
    if not ablate and grecs:
        notes.append("column 3 of the rough map (same value with the term off?) was not measured: run with "
                     "--ablate TERM to compare a run with that term's contribution removed.")
    if ablate and raw_off is not None and ablation and not ablation.get("ablated"):
        notes.append(f"the ablated run never computed {ablate!r}; the comparison is not meaningful.")
    verdict = base.verdict if base.verdict in ("crashed", "timeout", "inconclusive") else verdict_for(findings, None)
    if base.verdict == "inconclusive" and grecs:
        verdict = verdict_for(findings, None)
    worst = unexplained(records)
    if worst is not None:
        notes.append(f"the terms found explain only {max(0.0, 1 - worst):.0%} of the loss's gradient (sum-of-parts "
                     f"residual {worst:.3g}): part of the loss has no name here (made inside a module's forward, "
                     "or hidden in an expression the graph walk does not split); the rough map cannot clear this run.")
        if verdict == "healthy":
            verdict = "inconclusive"
    if not grecs and verdict == "healthy":
        verdict = "inconclusive"  # nothing was decomposed: the method measured nothing, so it cannot clear the run
    metrics = {
        "sampled_steps": [r["step"] for r in grecs],
        "terms": {k: [_r(v) for v in vals] for k, vals in _term_series(records).items()},
        "decomposition": [_compact(r) for r in grecs],
        "rough_map": _rough_map_table(records, ablation),
        "terms_found": [{k: v for k, v in t.items() if k != "watch"} for t in terms_found(records)],
        "transforms": (grecs[-1].get("transforms") or []) if grecs else [],
        "detached_terms": (grecs[-1].get("detached") or []) if grecs else [],
        "loss": base.metrics.get("loss"),
    }
    if ablation:
        metrics["ablation"] = {k: _r(v) for k, v in ablation.items()}
        if raw_off is not None:
            metrics["terms_ablated"] = {k: [_r(v) for v in vals]
                                        for k, vals in _term_series(raw_off["records"]).items()}
    for r in grecs:
        if r.get("metric_param_grads"):
            metrics["metric_param_grads"] = r["metric_param_grads"]
            break
    secs = raw.get("seconds", 0.0) + (raw_off or {}).get("seconds", 0.0)
    return Report(tool="grads", target=str(raw.get("script", script)), verdict=verdict, findings=findings,
                  metrics=metrics, notes=base.notes + notes, stdout_tail=raw.get("stdout_tail", ""),
                  stderr_tail=raw.get("stderr_tail", ""), seconds=round(secs, 3))


def _r(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.5g}") if math.isfinite(x) else None
    return x


def _compact(r: dict[str, Any]) -> dict[str, Any]:
    d = r["decomposition"]
    return {
        "step": r["step"], "loss": _r(r.get("loss")),
        "terms": [{"name": t["name"], "source": (r.get("sources") or {}).get(t["name"]), "value": _r(t["value"]),
                   "dloss_dterm": _r(t["dloss_dterm"]), "dterm_dparam_norm": _r(t["dterm_dparam_norm"]),
                   "effective_norm": _r(t["effective_norm"]),
                   "connected": (r.get("connected") or {}).get(t["name"], True),
                   "per_module": {m: _r(v) for m, v in sorted(t["per_module"].items(), key=lambda kv: -kv[1])[:8]}}
                  for t in d["terms"]],
        "cosines": {k: _r(v) for k, v in d["cosines"].items()},
        "module_conflicts": d.get("module_conflicts") or {},
        "whole_norm": _r(d["whole_norm"]), "parts_residual": _r(d.get("parts_residual")),
        "skipped": r.get("skipped") or [],
    }


def _rough_map_table(records: list[dict[str, Any]], ablation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The reading of every term at the last sampled step, in words (the finding logic adds the all-steps rule)."""
    grecs = [r for r in records if r.get("kind") == "grads" and r.get("decomposition")]
    if not grecs:
        return []
    out = []
    for name, x in _readings(grecs[-1], ablation).items():
        rd = x["reading"]
        out.append({"term": name, "step": grecs[-1]["step"], "dloss_dterm": rd.dloss_dterm,
                    "dterm_dparam": rd.dterm_dparam, "same_with_term_off": rd.same_with_term_off,
                    "cause": rd.cause, "row": rd.row})
    return out
