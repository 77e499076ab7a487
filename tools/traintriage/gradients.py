"""Per-loss-term gradient decomposition and the metric-stuck rough map (seed 000's three questions).

Pure functions over tensors and numbers; the probe calls `decompose` at a few steps of the user's run,
`grads_script` (in traintriage.probe.grads) wraps it for the CLI and the MCP server.

The three questions, cheapest first:
1. Is d(loss)/d(term) nonzero at the current operating point?      -> `dloss_dterm`
2. Can the parameters move the term at all?                         -> `dterm_dparam_norm`
3. Does the term reach the same value when its contribution is off? -> an ablation run (see probe/grads.py)
and, when 1 and 2 say "yes", is another term pulling the shared parameters the other way? -> `cosines`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # pragma: no cover
    import torch

# --- thresholds -----------------------------------------------------------------------------------
# A term whose slope d(loss)/d(term) is below this fraction of the steepest term's is not being optimized. Seed 000's example contrasts a live term at "350x the other grads";
# three orders of magnitude below the strongest term is well past that kind of gap, so we call it ~0.
SATURATION_SHARE = 1e-3
# With a single term there is nothing to compare with; d(loss)/d(term) below this absolute value means the
# loss barely reacts to the term (log1p(1e4) has slope 1e-4). 1e-3 is the same three-orders-of-magnitude
# gap measured against the slope of 1 a plain sum gives every term.
SATURATION_SLOPE = 1e-3
# d(term)/d(params) below this fraction of the largest term's d(term)/d(params): the parameters cannot move
# the term (a structural ceiling). Same three-orders rule as above.
STRUCTURAL_SHARE = 1e-3
# Cosine below this between two terms' gradients on the shared parameters counts as a conflict. PCGrad
# (Yu et al., 2020, "Gradient Surgery for Multi-Task Learning") treats any negative cosine as conflicting; the
# small margin keeps near-orthogonal noise (|cos| < 0.1 for random directions in high dimension) out.
COS_CONFLICT = -0.1
# A conflicting term must carry at least this fraction of the other's gradient norm to matter; PCGrad's
# analysis shows damage when magnitudes are comparable and the cosine is negative.
CONFLICT_MAGNITUDE = 0.1
# Ablation: the metric "reaches the same value" with the term off when the two final values differ by less
# than this fraction of how far the metric moved during the run (or of its scale when it did not move).
SAME_VALUE_TOL = 0.1


class TermGrad(BaseModel):
    name: str
    value: float = Field(description="The term's value (mean if not a scalar).")
    dloss_dterm: float | None = Field(description="d(loss)/d(term) at the operating point (norm if not scalar).")
    dterm_dparam_norm: float = Field(description="||d term / d params|| over the shared parameters.")
    effective_norm: float = Field(description="||d loss / d params through this term||.")
    per_module: dict[str, float] = Field(default_factory=dict, description="effective grad norm per module.")


class Decomposition(BaseModel):
    terms: list[TermGrad]
    cosines: dict[str, float] = Field(default_factory=dict, description="'a|b' -> cosine of effective grads.")
    module_conflicts: dict[str, list[str]] = Field(
        default_factory=dict, description="module -> term pairs whose gradients there have negative cosine."
    )
    whole_norm: float = Field(description="||d loss / d params|| of the whole loss.")
    parts_residual: float | None = Field(
        description="||whole - sum(parts)|| / ||whole||: ~0 when the terms account for the whole loss."
    )
    n_params: int


def _flat(grads: list[torch.Tensor | None], params: list[torch.Tensor]) -> torch.Tensor:
    import torch

    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params, strict=True)])


def _module_of(name: str) -> str:
    """'encoder.layers.0.weight' -> 'encoder.layers.0'; a top-level parameter is its own module."""
    return name.rsplit(".", 1)[0] if "." in name else name


def decompose(
    loss: torch.Tensor,
    terms: dict[str, torch.Tensor],
    named_params: list[tuple[str, torch.Tensor]],
    partition: list[str] | None = None,
) -> Decomposition:
    """Split the gradient of `loss` into each term's contribution.

    For a term t, d(loss)/d(params) through t is (d loss / d t) . (d t / d params): `torch.autograd.grad(t,
    params, grad_outputs=d loss/d t)`. The graph is retained, so the caller can still call backward.
    `partition` names the terms that add up to the loss (the others are nested inside them, e.g. a loss call
    under a log1p): the residual is measured over those only (default: all terms).
    """
    import torch

    params = [p for _, p in named_params if p.requires_grad]
    names = [n for n, p in named_params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters to decompose gradients over")
    whole = _flat(list(torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)), params)
    out: list[TermGrad] = []
    eff: dict[str, torch.Tensor] = {}
    for name, t in terms.items():
        if not t.requires_grad:
            out.append(TermGrad(name=name, value=float(t.detach().float().mean()), dloss_dterm=0.0,
                                dterm_dparam_norm=0.0, effective_norm=0.0))
            eff[name] = torch.zeros_like(whole)
            continue
        (dl_dt,) = torch.autograd.grad(loss, t, retain_graph=True, allow_unused=True)
        if dl_dt is None:
            dl_dt = torch.zeros_like(t)
        raw = _flat(list(torch.autograd.grad(t.sum(), params, retain_graph=True, allow_unused=True)), params)
        g = _flat(list(torch.autograd.grad(t, params, grad_outputs=dl_dt, retain_graph=True, allow_unused=True)),
                  params)
        eff[name] = g
        per_module: dict[str, float] = {}
        offset = 0
        for n, p in zip(names, params, strict=True):
            k = p.numel()
            m = _module_of(n)
            per_module[m] = math.hypot(per_module.get(m, 0.0), float(g[offset : offset + k].norm()))
            offset += k
        out.append(TermGrad(
            name=name,
            value=float(t.detach().float().mean()),
            dloss_dterm=float(dl_dt) if dl_dt.numel() == 1 else float(dl_dt.norm()),
            dterm_dparam_norm=float(raw.norm()),
            effective_norm=float(g.norm()),
            per_module={m: round(v, 8) for m, v in per_module.items()},
        ))
    cos: dict[str, float] = {}
    conflicts: dict[str, list[str]] = {}
    keys = list(eff)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            cos[f"{a}|{b}"] = _cosine(eff[a], eff[b])
    # per-module conflicts: cosine of the two terms' gradients restricted to one module
    mods = sorted({_module_of(n) for n in names})
    if len(keys) > 1:
        for m in mods:
            idx = [j for j, n in enumerate(names) if _module_of(n) == m]
            sl = _slices(params, idx)
            for i, a in enumerate(keys):
                for b in keys[i + 1 :]:
                    ga = torch.cat([eff[a][s] for s in sl])
                    gb = torch.cat([eff[b][s] for s in sl])
                    if ga.norm() > 0 and gb.norm() > 0 and _cosine(ga, gb) < COS_CONFLICT:
                        conflicts.setdefault(m, []).append(f"{a}|{b}")
    whole_norm = float(whole.norm())
    residual = None
    if eff and whole_norm > 0:
        parts = [eff[k] for k in (partition or list(eff)) if k in eff]
        residual = float((whole - sum(parts)).norm()) / whole_norm
    return Decomposition(terms=out, cosines=cos, module_conflicts=conflicts, whole_norm=whole_norm,
                         parts_residual=residual, n_params=int(whole.numel()))


def _slices(params: list[torch.Tensor], idx: list[int]) -> list[slice]:
    starts = []
    off = 0
    for p in params:
        starts.append(off)
        off += p.numel()
    return [slice(starts[j], starts[j] + params[j].numel()) for j in idx]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(a.dot(b)) / (na * nb)


# --- the rough map ----------------------------------------------------------------------------------
class RoughMapReading(BaseModel):
    """One row of seed 000's rough map, with the measurements that put the term there."""

    term: str
    row: str = Field(description="the rough-map row, in words")
    cause: str | None = Field(description="catalogue id, or None when the term is being optimized normally")
    dloss_dterm: str = Field(description="'~0' or 'large'")
    dterm_dparam: str = Field(description="'~0' or 'large'")
    same_with_term_off: bool | None = Field(description="ablation result; None when no ablation ran")
    evidence: dict[str, Any] = Field(default_factory=dict)


ROWS = {
    "loss-saturated": "d(loss)/d(term) ~0: the loss no longer reacts to this term (saturated or disconnected)",
    "structural-ceiling": "the loss pulls, but the parameters cannot move the term: a structural ceiling",
    "competing-losses": "the loss pulls and the parameters can move it, but another term pulls the other way",
    "same-basin": "the term is optimized, yet the run ends at the same value without it: same basin",
    None: "the loss pulls, the parameters respond, nothing opposes it: the term is being optimized",
}


def classify_rough_map(
    term: str,
    *,
    dloss_dterm: float,
    effective_norm: float,
    dterm_dparam_norm: float,
    max_effective_norm: float | None = None,
    max_dloss_dterm: float | None = None,
    max_dterm_dparam_norm: float | None = None,
    min_cosine: float | None = None,
    other_norm_ratio: float | None = None,
    metric_on: float | None = None,
    metric_off: float | None = None,
    metric_init: float | None = None,
) -> RoughMapReading:
    """Read seed 000's rough map from the three measurements.

    `max_*` are the largest values over all terms in the same loss (the reference "other gradients");
    `min_cosine` is this term's most negative cosine with another term, `other_norm_ratio` the norm ratio
    (smaller / larger) with that term; `metric_*` come from an ablation (term on, term off, at start).
    """
    ev: dict[str, Any] = {"dloss_dterm": dloss_dterm, "effective_norm": effective_norm,
                          "dterm_dparam_norm": dterm_dparam_norm}
    saturated = abs(dloss_dterm) < SATURATION_SLOPE
    if max_dloss_dterm:
        share = abs(dloss_dterm) / max_dloss_dterm
        ev["slope_share"] = share
        saturated = saturated or share < SATURATION_SHARE
    if max_effective_norm:
        ev["effective_share"] = effective_norm / max_effective_norm
    if max_dterm_dparam_norm:
        structural = dterm_dparam_norm < STRUCTURAL_SHARE * max_dterm_dparam_norm
        ev["dterm_dparam_share"] = dterm_dparam_norm / max_dterm_dparam_norm
    else:
        structural = dterm_dparam_norm < 1e-12
    same: bool | None = None
    never_moved = False
    if metric_on is not None and metric_off is not None:
        moved = abs(metric_init - metric_on) if metric_init is not None else None
        scale = max(moved or 0.0, 1e-3 * max(abs(metric_on), abs(metric_off), 1e-12))
        same = abs(metric_on - metric_off) <= SAME_VALUE_TOL * scale
        never_moved = moved is not None and moved <= SAME_VALUE_TOL * max(abs(metric_on), 1e-12)
        ev.update(metric_on=metric_on, metric_off=metric_off, metric_init=metric_init,
                  same_tolerance=SAME_VALUE_TOL)
    conflict = (
        min_cosine is not None
        and min_cosine < COS_CONFLICT
        and (other_norm_ratio is None or other_norm_ratio >= CONFLICT_MAGNITUDE)
    )
    if min_cosine is not None:
        ev.update(min_cosine=min_cosine, other_norm_ratio=other_norm_ratio, conflict_threshold=COS_CONFLICT)
    # Rows of the map, in the order seed 000 asks the questions.
    if saturated:
        cause = "loss-saturated"
    elif structural or (same is True and never_moved):
        cause = "structural-ceiling"  # the parameters cannot move it: same value, with or without its term
    elif same is True:
        cause = "same-basin"
    elif conflict:
        cause = "competing-losses"
    else:
        cause = None
    return RoughMapReading(
        term=term,
        row=ROWS[cause],
        cause=cause,
        dloss_dterm="~0" if saturated else "large",
        dterm_dparam="~0" if structural else "large",
        same_with_term_off=same,
        evidence=ev,
    )


def read_decomposition(d: Decomposition) -> list[RoughMapReading]:
    """Apply the rough map to every term of one decomposition (no ablation: column 3 unknown)."""
    if not d.terms:
        return []
    max_eff = max(t.effective_norm for t in d.terms) or None
    max_raw = max(t.dterm_dparam_norm for t in d.terms) or None
    max_slope = max(abs(t.dloss_dterm or 0.0) for t in d.terms) or None
    out = []
    for t in d.terms:
        worst, ratio = None, None
        for pair, c in d.cosines.items():
            a, b = pair.split("|")
            if t.name not in (a, b):
                continue
            other = b if a == t.name else a
            on = next(x.effective_norm for x in d.terms if x.name == other)
            if worst is None or c < worst:
                big = max(on, t.effective_norm)
                worst, ratio = c, (min(on, t.effective_norm) / big if big else 0.0)
        out.append(classify_rough_map(
            t.name,
            dloss_dterm=t.dloss_dterm or 0.0,
            effective_norm=t.effective_norm,
            dterm_dparam_norm=t.dterm_dparam_norm,
            max_effective_norm=max_eff if len(d.terms) > 1 else None,
            max_dterm_dparam_norm=max_raw if len(d.terms) > 1 else None,
            max_dloss_dterm=max_slope if len(d.terms) > 1 else None,
            min_cosine=worst,
            other_norm_ratio=ratio,
        ))
    return out
