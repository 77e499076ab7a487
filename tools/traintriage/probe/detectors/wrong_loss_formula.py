"""wrong-loss-formula: the loss computes something other than the per-sample loss the script means.

Three measured forms:

* **broadcast** (error): a regression loss compares input [N, 1] with target [N]; they broadcast to [N, N].
* **batch-mean error** (error): read from how the loss responds to the model's output (the harness's
  `lossgrad` records: d(loss)/d(output) and one Hessian-vector product on the first backward passes). Every
  sample receives the very same gradient, and moving one sample's output moves every sample's gradient as
  much as its own: the loss is a non-linear function of the batch mean of the output, e.g. the square of the
  mean error. Any prediction with the right batch mean scores zero, and errors of opposite sign cancel. A
  per-sample loss (MSE, L1, cross-entropy) leaves the other samples' gradients untouched (coupling 0).
* **norm of each sample's error** (warning): every sample's gradient has the same length, 1/batch, whatever
  its error, while its elements differ in size and the loss curves (a non-zero Hessian-vector product on the
  moved sample, none on the others): the loss is the Euclidean norm of each sample's error vector
  (a square root taken after summing over its features). Each element's gradient is e_j/||e||, about
  1/sqrt(features) of an elementwise |e| with the same reduction. That is a legitimate loss when a distance
  is meant (end-point error), hence a warning: the operation order is what the handbook lists as a formula bug.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding

# Every sample's gradient equal to the batch-mean gradient within this fraction of the largest row norm.
# A loss of the batch-mean error computes one scalar and broadcasts it (spread exactly 0); a per-sample loss
# over varied predictions has spread of order 1. Float32 round-off is ~1e-7.
SAME_GRAD_SPREAD = 1e-3
# Coupling = mean ||H[i, 0]|| over the other samples / ||H[0, 0]|| for a unit move of sample 0's output. A loss
# of the batch mean gives exactly 1 (every sample's gradient moves together); a per-sample loss gives 0.
COUPLING_MIN = 0.5
# Per-sample gradient lengths equal within this coefficient of variation (a norm's gradient e/||e|| is a unit
# vector, exactly; an MSE / CE gradient's length follows the sample's error, cv of order 1).
NORM_CV_MAX = 1e-3
# ... while the elements inside a sample's gradient differ (cv of |g_j| within a row above this): an
# elementwise |e| (L1) gives every element the same size, cv ~0; the norm gives e_j/||e||, cv ~0.75 for
# Gaussian errors.
ELEM_CV_MIN = 0.1
# Per-sample coupling below this for the norm form: block-diagonal (each sample's loss is its own). The
# Hessian-vector product must also be non-zero on the moved sample: a loss linear in the output (NLL picking
# one log-probability per row, gradient -1/batch on a one-hot) has constant row norms too, but no curvature;
# among curved per-sample losses only a distance (the eikonal |grad| = 1) keeps every row's length equal.
NORM_COUPLING_MAX = 0.1
# A sample of at least this many features: with one feature the norm is |e|, which is L1.
NORM_MIN_FEATURES = 2
# The outputs must differ across the batch by at least this fraction of their size (mean distance to the batch
# mean / mean norm): when a dead or collapsed network outputs the same row for every sample, any loss (cross-
# entropy on uniform logits) gives gradient rows that are permutations of each other, all of one length.
OUT_SPREAD_MIN = 0.05


def _broadcast(ev: dict[str, Any]) -> list:
    for c in calls(ev, "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        b = c.get("broadcast_shape")
        if c.get("shape_mismatch") and b and b != c.get("input_shape"):
            return [finding("wrong-loss-formula", "error", 0.85,
                            f"{c['fn']} compares input {c.get('input_shape')} with target {c.get('target_shape')}; "
                            f"they broadcast to {b}, so every prediction is scored against every target. Make the "
                            "shapes equal (squeeze the prediction or unsqueeze the target).",
                            input_shape=c.get("input_shape"), target_shape=c.get("target_shape"), broadcast_shape=b)]
    return []


def _ref(r: dict[str, Any]) -> str:
    if r.get("ref_mse") is None:
        return ""
    return (f" On the same output and target (shape {r.get('target_shape')}) F.mse_loss gives {r['ref_mse']:.4g} "
            f"and F.l1_loss {r['ref_l1']:.4g}, against the script's loss {r.get('loss'):.4g}.")


def _batch_mean(recs: list[dict[str, Any]]) -> list:
    hits = [r for r in recs if r.get("grad_row_spread") is not None and r["grad_row_spread"] <= SAME_GRAD_SPREAD
            and (r.get("coupling") or 0) >= COUPLING_MIN]
    measured = [r for r in recs if r.get("coupling") is not None]
    if not hits or len(hits) * 2 < len(measured):
        return []
    r = hits[0]
    return [finding(
        "wrong-loss-formula", "error", 0.85,
        f"the loss depends on the model's output {r['shape']} only through its batch mean: all {r['batch']} samples "
        f"receive the same gradient (spread {r['grad_row_spread']:.2g} of the largest), and moving one sample's "
        f"output moves every other sample's gradient as much as its own (coupling {r['coupling']:.3g}; a "
        "per-sample loss gives 0). A reduction happens before the non-linearity, e.g. (pred - y).mean() ** 2: "
        "errors of opposite sign cancel, and any prediction with the right batch mean scores zero." + _ref(r)
        + " Square (or abs) each error first, then reduce: F.mse_loss(pred, y).",
        step=r.get("step"), output_shape=r["shape"], batch=r["batch"], grad_row_spread=r["grad_row_spread"],
        coupling=r["coupling"], loss=r.get("loss"), ref_mse=r.get("ref_mse"), ref_l1=r.get("ref_l1"),
        samples_measured=len(measured), samples_hit=len(hits))]


def _row_norm(recs: list[dict[str, Any]]) -> list:
    hits = [r for r in recs if r.get("grad_row_norm_cv") is not None and r["grad_row_norm_cv"] <= NORM_CV_MAX
            and (r.get("features") or 0) >= NORM_MIN_FEATURES and (r.get("grad_elem_cv") or 0) >= ELEM_CV_MIN
            and r.get("coupling") is not None and r["coupling"] <= NORM_COUPLING_MAX
            and (r.get("out_spread") or 0) >= OUT_SPREAD_MIN * (r.get("out_row_norm") or 0) > 0]
    measured = [r for r in recs if r.get("grad_row_norm_cv") is not None]
    if not hits or len(hits) * 2 < len(measured):
        return []
    r = hits[0]
    rn, ea = r["grad_row_norm_mean"], r["grad_elem_absmean"]
    return [finding(
        "wrong-loss-formula", "warning", 0.6,
        f"every sample's gradient on the model's output {r['shape']} has the same length {rn:.3g} (cv "
        f"{r['grad_row_norm_cv']:.2g}) whatever its error, while its {r['features']} elements differ in size (cv "
        f"{r['grad_elem_cv']:.2g}): the loss is the Euclidean norm of each sample's error, a square root taken after "
        f"summing the squares over the features. Each element gets e_j/||e|| (mean |g| {ea:.3g}), "
        f"{ea / rn if rn else 0:.3g}x what an elementwise |e| with the same reduction gives ({rn:.3g}, about "
        f"1/sqrt({r['features']})). If a sum of absolute (or squared) errors was meant, take the root per element "
        "(or drop it): F.l1_loss / F.mse_loss." + _ref(r),
        step=r.get("step"), output_shape=r["shape"], features=r["features"], grad_row_norm=rn,
        output_spread=r.get("out_spread"), output_norm=r.get("out_row_norm"),
        grad_row_norm_cv=r["grad_row_norm_cv"], grad_elem_cv=r["grad_elem_cv"], grad_elem_absmean=ea,
        elementwise_ratio=round(ea / rn, 4) if rn else None, loss=r.get("loss"), ref_mse=r.get("ref_mse"),
        ref_l1=r.get("ref_l1"))]


def detect(ev: dict[str, Any]) -> list:
    out = _broadcast(ev)
    if out:
        return out
    recs = ev.get("lossgrad", [])
    return _batch_mean(recs) or _row_norm(recs)
