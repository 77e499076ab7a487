"""module-gradient-outlier: one module's gradient dwarfs the rest of the model.

Two measurements, both on the gradients as backward() left them (before any clipping):
- per module (refs/catalogue/dynamics.md#module-gradient-outlier, seed 002): the gradient norm of each module
  (the parameters sharing a name prefix; a loose nn.Parameter is its own module) against the median module.
  One module far above the median AND holding most of the squared total norm, on every sampled step (at init
  and still after training, where a classifier head's early lead fades), is an outlier. With global-norm
  clipping active it sets the clip: every other module receives clip/||g|| of its gradient (the seed's
  "starving the rest of the network"), an error. Without clipping it is a warning.
- per tensor: ||g|| / ||theta|| of one weight tensor OUTLIER_FACTOR times the median tensor's.
"""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.detectors._common import finding, median, overfit_failed, share

# ||g|| / ||theta|| for one tensor this many times the median over the model: its effective LR is two
# orders of magnitude off (a multiplicative scale on raw inputs, an un-normalised embedding...).
OUTLIER_FACTOR = 100.0
MIN_TENSORS = 4
# The first step moved a tensor by at least this fraction of its norm: it started at ~0 (||theta_0 + d|| ~ ||d||).
ZERO_START = 0.5
# The catalogue's typical threshold for a module outlier: "one module above 10 times the median module's norm,
# or holding more than half of the squared total norm". Both are required here, on every sampled step: healthy
# controls reach 8x the median at init (a classifier head), and their head's share falls as the loss falls.
MODULE_FACTOR = 10.0
MODULE_SHARE = 0.5
# Fewer modules than this and "the median module" means nothing (a 2-layer MLP is all outlier).
MIN_MODULES = 4
# What the optimizer saw below this fraction of the pre-clip norm: clipping is active on that step.
CLIP_ACTIVE = 0.9


def _module_norms(rows: list[dict[str, Any]]) -> dict[str, float]:
    sq: dict[str, float] = {}
    for p in rows:
        g = p.get("grad")
        if g is None or not p.get("requires_grad", True):
            continue
        name = str(p.get("name", "?"))
        mod = name.rsplit(".", 1)[0] if "." in name else name  # a loose nn.Parameter is its own module
        sq[mod] = sq.get(mod, 0.0) + g * g
    return {k: math.sqrt(v) for k, v in sq.items()}


def _module_outlier(ev: dict[str, Any]) -> list:
    per = [s for s in ev.get("steps", []) if s.get("params")]
    if not per:
        return []
    looks = []
    for s in per:
        norms = _module_norms(s["params"])
        if len(norms) < MIN_MODULES:
            return []
        med = median(list(norms.values()))
        total = math.sqrt(sum(v * v for v in norms.values()))
        name, top = max(norms.items(), key=lambda kv: kv[1])
        if not med or not total:
            return []
        gn, applied = s.get("grad_norm"), s.get("grad_norm_at_step")
        clip = applied / gn if gn and applied is not None else None
        looks.append({"step": s.get("step"), "module": name, "norm": top, "median": med, "factor": top / med,
                      "share": (top / total) ** 2, "grad_norm": gn, "clip_coef": clip})
    mods = {x["module"] for x in looks}
    if len(mods) != 1 or any(x["factor"] < MODULE_FACTOR or x["share"] < MODULE_SHARE for x in looks):
        return []
    name = looks[0]["module"]
    clipped = all(x["clip_coef"] is not None and x["clip_coef"] < CLIP_ACTIVE for x in looks)
    worst = max(looks, key=lambda x: x["factor"])
    # the harm the error stands for is the starvation under the clip; unclipped, a last layer that dwarfs the
    # rest is usually the other layers' gradient vanishing (vanishing-gradients names that)
    sev = "error" if clipped else "warning"
    coef = min((x["clip_coef"] for x in looks if x["clip_coef"] is not None), default=None)
    msg = (f"Module {name} holds {worst['share']:.0%} of the squared gradient norm, {worst['factor']:.0f}x the median "
           f"module's ({worst['norm']:.3g} vs {worst['median']:.3g}) on every sampled step")
    if clipped:
        msg += (f"; the global clip is set by it, so every other module gets only {share(coef)} of its gradient. Look at "
                "what feeds it: a multiplicative parameter on raw inputs (e.g. x * scale with scale ~ randn; make it "
                "additive and start it at the identity) or an un-normalised input.")
    else:
        msg += ": its effective LR is far off the rest. Check its input scale and init, or give it its own LR."
    return [finding("module-gradient-outlier", sev, 0.75 if sev == "error" else 0.5, msg,
                    module=name, module_grad_norm=worst["norm"], median_module_grad_norm=worst["median"],
                    factor=round(worst["factor"], 3), share=round(worst["share"], 4), clipping_active=clipped,
                    min_clip_coef=coef, steps=[{k: (round(v, 6) if isinstance(v, float) else v) for k, v in x.items()}
                                               for x in looks],
                    thresholds={"factor": MODULE_FACTOR, "share": MODULE_SHARE, "clip_active": CLIP_ACTIVE})]


def _tensor_outlier(ev: dict[str, Any]) -> list:
    per = [s for s in ev.get("steps", []) if s.get("params")]
    if not per:
        return []
    # grad/param is meaningless for a tensor that starts at (or near) zero (biases, a zero-initialised additive
    # offset): its norm after the first step is mostly that step. Weights and scales only.
    rows = [p for p in per[0]["params"] if p.get("grad") and (p.get("param") or 0) > 1e-8 and p.get("requires_grad")
            and not p.get("orphan") and not str(p.get("name", "")).endswith("bias")
            and not (p.get("update") is not None and p["update"] >= ZERO_START * p["param"])]
    if len(rows) < MIN_TENSORS:
        return []
    ratios = {p["name"]: p["grad"] / p["param"] for p in rows}
    med = median(list(ratios.values()))
    if not med:
        return []
    name, worst = max(ratios.items(), key=lambda kv: kv[1])
    if worst < OUTLIER_FACTOR * med:
        return []
    upd = _update_factor(rows, name)
    if _adaptive(ev) and upd is not None and upd < OUTLIER_FACTOR:
        # Adam & co. divide each element's step by its own gradient RMS: the gradient's scale does not reach the
        # update, so the tensor moves like the rest (measured: its update/weight ratio is no outlier)
        return [finding("module-gradient-outlier", "info", 0.3,
                        f"{name} gets a gradient {worst / med:.0f}x larger, relative to its weights, than the median "
                        f"tensor, but the adaptive optimizer normalises it: its applied update/weight ratio is "
                        f"{upd:.2g}x the median, so it does not dominate the steps.",
                        param=name, grad_over_param=worst, median_grad_over_param=med, factor=worst / med,
                        update_factor=upd, adaptive=True)]
    sev = "error" if overfit_failed(ev) else "warning"
    return [finding("module-gradient-outlier", sev, 0.7 if sev == "error" else 0.5,
                    f"{name} gets a gradient {worst / med:.0f}x larger, relative to its weights, than the median "
                    f"tensor ({worst:.3g} vs {med:.3g}): it dominates every step. Check its init (a multiplicative "
                    "scale should start at 1) and give it its own LR or normalise its input.",
                    param=name, grad_over_param=worst, median_grad_over_param=med, factor=worst / med,
                    update_factor=upd)]


# Optimizers that divide each element's step by a running RMS of its gradient (Kingma & Ba 2015; Tieleman &
# Hinton 2012; Duchi et al. 2011): the update's size is ~lr whatever the gradient's scale.
ADAPTIVE = {"Adam", "AdamW", "NAdam", "RAdam", "Adamax", "RMSprop", "Adagrad", "Adadelta", "SparseAdam", "Adafactor",
            "FusedAdam", "Lion"}


def _adaptive(ev: dict[str, Any]) -> bool:
    opts = ev.get("optimizers") or []
    return bool(opts) and all(o.get("cls") in ADAPTIVE for o in opts)


def _update_factor(rows: list[dict[str, Any]], name: str) -> float | None:
    """The applied update/weight ratio of `name` over the median tensor's (None: updates not measured)."""
    ups = {p["name"]: p["update"] / p["param"] for p in rows if p.get("update") is not None}
    med = median(list(ups.values())) if len(ups) >= MIN_TENSORS else None
    return ups[name] / med if med and name in ups else None


def detect(ev: dict[str, Any]) -> list:
    by_module = _module_outlier(ev)
    by_tensor = _tensor_outlier(ev)
    if by_module and (by_module[0].severity == "error" or not by_tensor):
        return by_module
    return by_tensor
