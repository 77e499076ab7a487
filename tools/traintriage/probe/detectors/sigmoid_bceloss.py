"""sigmoid-bceloss: probabilities where the binary cross-entropy expects something else.

Two measured forms:

* **sigmoid -> BCEWithLogitsLoss** (error): the tensor reaching `binary_cross_entropy_with_logits` was computed
  by a sigmoid (its autograd node, looked up through squeeze/view/select), so the loss applies a second
  sigmoid and every prediction is squeezed into [0.5, 0.73]. The value range alone is not the test: a freshly
  initialised linear head also outputs small logits inside [0, 1].
* **sigmoid -> BCELoss saturated** (warning): the probabilities reaching `binary_cross_entropy` come from a
  sigmoid and some sit at exactly 0 or 1 on the wrong side of their target: BCELoss clamps log(0) to -100, so
  those examples add loss 100 and no gradient (PyTorch docs, BCELoss).
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding

# Ops whose output is a probability in [0, 1]: applied before a logits loss, the loss squashes twice.
PROBABILITY_OPS = {"Sigmoid", "Hardsigmoid", "Softmax"}
# Ops that compute unbounded scores (a layer's raw output): their values inside [0, 1] are a coincidence of
# the initialisation, never evidence of a sigmoid.
SCORE_OPS = {"Addmm", "Mm", "Bmm", "Mv", "Baddbmm", "Linear", "Convolution", "NativeLayerNorm", "NativeBatchNorm",
             "CudnnBatchNorm", "Embedding", "Add"}
# Without a recognisable producer (a hand-written squashing, a custom autograd Function) the value range is
# the evidence; it must hold on this share of the sampled calls and on at least this many of them, so one
# early batch of small logits is not enough.
RANGE_CALL_SHARE = 1.0
RANGE_MIN_CALLS = 3
# Any wrong-side element at exactly 0 or 1 is a dead example (loss 100, no gradient); report from this share.
CLAMPED_WRONG_MIN = 0.001


def _in_unit(c: dict[str, Any]) -> bool:
    lo, hi = c.get("input_min"), c.get("input_max")
    return lo is not None and hi is not None and 0 <= lo < hi <= 1


def detect(ev: dict[str, Any]) -> list:
    out = []
    cs = calls(ev, "binary_cross_entropy_with_logits")
    prod = [c for c in cs if c.get("producer") in PROBABILITY_OPS]
    if prod and len(prod) * 2 >= len([c for c in cs if c.get("producer") is not None]):
        c = prod[0]
        rng = (f" (values {c['input_min']:.3g} .. {c['input_max']:.3g})" if _in_unit(c) else "")
        out.append(finding(
            "sigmoid-bceloss", "error", 0.9,
            f"the tensor reaching binary_cross_entropy_with_logits is the output of {c['producer']}{rng} in "
            f"{len(prod)}/{len(cs)} sampled calls: it is already a probability, and the loss applies its own "
            "sigmoid on top, squeezing every prediction into [0.5, 0.73]. Pass the raw logits (drop the "
            "sigmoid) or use BCELoss on the probabilities.",
            calls=len(prod), sampled_calls=len(cs), producer=c["producer"], input_min=c.get("input_min"),
            input_max=c.get("input_max")))
    elif cs:
        unknown = [c for c in cs if c.get("producer") not in SCORE_OPS]
        hits = [c for c in unknown if _in_unit(c)]
        if (len(hits) >= RANGE_MIN_CALLS and len(hits) >= RANGE_CALL_SHARE * len(cs)):
            c = hits[0]
            out.append(finding(
                "sigmoid-bceloss", "error", 0.7,
                f"binary_cross_entropy_with_logits got inputs inside [0, 1] in all {len(cs)} sampled calls (min "
                f"{min(h['input_min'] for h in hits):.3g}, max {max(h['input_max'] for h in hits):.3g}), computed by "
                f"{c.get('producer') or 'an op without a graph'}, not by a layer: they look like probabilities, and "
                "the loss applies a second sigmoid. Pass logits (drop the squashing) or use BCELoss.",
                calls=len(hits), sampled_calls=len(cs), producer=c.get("producer"),
                input_min=min(h["input_min"] for h in hits), input_max=max(h["input_max"] for h in hits)))
    bce = [c for c in calls(ev, "binary_cross_entropy")
           if c.get("producer") in PROBABILITY_OPS and (c.get("clamped_wrong_frac") or 0) >= CLAMPED_WRONG_MIN]
    if bce and not out:
        c = max(bce, key=lambda c: c["clamped_wrong_frac"])
        out.append(finding(
            "sigmoid-bceloss", "warning", 0.7,
            f"BCELoss gets sigmoid outputs, and {c['clamped_wrong_frac']:.1%} of the elements are exactly 0 or 1 on "
            "the wrong side of their target (call at step "
            f"{c.get('step')}): BCELoss clamps log(0) to -100, so those examples add loss 100 and no gradient. "
            "Use BCEWithLogitsLoss on the logits.",
            producer=c["producer"], clamped_wrong_frac=c["clamped_wrong_frac"], at_bound_frac=c.get("at_bound_frac"),
            step=c.get("step")))
    return out
