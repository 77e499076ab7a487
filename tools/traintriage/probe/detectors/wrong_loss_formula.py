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

import math
from typing import Any

from traintriage.probe.check import Check, _finite, _first_tensor, _is_tensor, _loss_cls, _tolist
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


# ---------------------------------------------------------------- recording (in the probe's child)
# the graph only. Outputs larger than this (LM logits) are skipped: the formula bugs this looks for are in
# hand-written regression losses, and the extra copies would cost memory.
LOSSGRAD_CHECKS = 2
# Backward passes tried at most (an output the loss does not use, a batch too small): the check stays bounded.
LOSSGRAD_TRIES = 8
LOSSGRAD_MAX_ELEMS = 1 << 22
LOSSGRAD_MIN_BATCH = 4



class Recording(Check):
    """How the loss responds to the model's output, on the first backward passes (`lossgrad` records)."""

    id = "wrong-loss-formula"
    forward_scope = "roots"

    def __init__(self) -> None:
        self.last_out: Any = None  # the last root module's output that carries a graph
        self.done = 0  # backward passes whose output-to-loss gradient was measured
        self.tries = 0

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        if core.depth == 0 and self._wanted() and not isinstance(module, _loss_cls()):
            o = _first_tensor(out)
            self.last_out = o if o is not None and o.requires_grad and o.is_floating_point() else None

    def backward_pre(self, core: Any, loss: Any) -> None:
        if self.last_out is not None and self._wanted() and loss.numel() == 1 and loss.requires_grad:
            self._loss_grad_check(core, loss)

    def _wanted(self) -> bool:
        return self.done < LOSSGRAD_CHECKS and self.tries < LOSSGRAD_TRIES

    def _loss_grad_check(self, core: Any, loss: Any) -> None:
        """How the loss responds to the model's output (wrong-loss-formula): d(loss)/d(out) per sample, and
        the change of every sample's gradient when one output element of sample 0 moves (a Hessian-vector product).
        A per-sample loss (MSE, L1, CE) leaves the other samples' gradients alone; a loss of the batch-mean
        error gives every sample the same gradient and moves them all together. Graph kept for the real backward."""
        import torch

        out, self.last_out = self.last_out, None
        self.tries += 1
        if out.dim() < 1 or out.shape[0] < LOSSGRAD_MIN_BATCH or out.numel() > LOSSGRAD_MAX_ELEMS:
            return
        rec: dict[str, Any] = {"step": core.n_steps, "n": core.n_backward, "shape": list(out.shape)}
        try:
            with torch.enable_grad():
                try:
                    (g,) = torch.autograd.grad(loss, out, retain_graph=True, create_graph=True, allow_unused=True)
                except RuntimeError:  # an op between output and loss without double backward: first order only
                    (g,) = torch.autograd.grad(loss, out, retain_graph=True, allow_unused=True)
                if g is None:
                    return  # the loss does not use this output
                self.done += 1
                rec.update(_grad_structure(out, g))
                if g.requires_grad and rec.get("grad_max_row_norm"):
                    v = torch.zeros_like(out)
                    v.view(-1)[0] = 1.0  # one element of sample 0 (a whole row would vanish for shift-invariant CE)
                    (h,) = torch.autograd.grad(g, out, grad_outputs=v, retain_graph=True, allow_unused=True)
                    if h is not None:
                        hn = h.detach().float().reshape(out.shape[0], -1).norm(dim=1).tolist()
                        own, others = hn[0], sum(hn[1:]) / (len(hn) - 1)
                        rec.update(hvp_own=_finite(own), hvp_others=_finite(others),
                                   coupling=_finite(others / own) if own > 0 else None)
            rec["loss"] = _finite(float(loss.detach()))
            t = self._batch_target(core, out)
            if t is not None:  # the handbook's reference: the library losses on the same output and target
                with torch.no_grad():
                    d = out.detach().float().reshape(t.shape) - t.to(out.device).float()
                    v = _tolist([(d * d).mean(), d.abs().mean()])
                rec.update(target_shape=list(t.shape), ref_mse=_finite(v[0]), ref_l1=_finite(v[1]))
        except Exception as e:  # noqa: BLE001 - measurement must never break the user's run
            rec["error"] = f"{type(e).__name__}: {e}"[:300]
        core.emit("lossgrad", **rec)

    def _batch_target(self, core: Any, out: Any) -> Any:
        """The target of a hand-written loss, when the model's input came from a DataLoader batch: the one
        other floating tensor of that batch with as many elements (and rows) as the output; else None."""
        x = core.last_input
        if x is None or not core.loaders or not _is_tensor(x):
            return None
        xptr = x.untyped_storage().data_ptr()
        for info in core.loaders.values():
            recent = [(ref(), n) for ref, n in info.get("_recent", [])]  # batch tensors handed out lately
            batch = next((n for t, n in reversed(recent) if t is not None and t.device == x.device
                          and t.untyped_storage().data_ptr() == xptr), None)
            if batch is None:
                continue
            cands = [t for t, n in recent if t is not None and n == batch and t.is_floating_point() and t.dim() >= 1
                     and t.untyped_storage().data_ptr() != xptr and t.numel() == out.numel()
                     and t.shape[0] == out.shape[0]]
            return cands[0] if len(cands) == 1 else None
        return None



def _grad_structure(out: Any, g: Any) -> dict[str, Any]:
    """Per-sample structure of d(loss)/d(out), rows = dim 0 (the batch)."""
    import torch

    with torch.no_grad():
        b = out.shape[0]
        gr = g.detach().float().reshape(b, -1)
        o = out.detach().float().reshape(b, -1)
        rn = gr.norm(dim=1)
        spread = (gr - gr.mean(0, keepdim=True)).norm(dim=1).max()
        a = gr.abs()
        am = a.mean(1)
        ok = am > 0
        elem_cv = (a[ok].std(1) / am[ok]).mean() if gr.shape[1] > 1 and bool(ok.any()) else torch.zeros(())
        v = _tolist([rn.max(), rn.mean(), rn.std() / rn.mean().clamp_min(1e-30), spread, elem_cv, a.mean(),
                     (o - o.mean(0, keepdim=True)).norm(dim=1).mean(), o.norm(dim=1).mean()])
    rec: dict[str, Any] = {"batch": int(b), "features": int(gr.shape[1]), "grad_max_row_norm": _finite(v[0]),
                           "grad_row_norm_mean": _finite(v[1]), "out_spread": _finite(v[6]),
                           "out_row_norm": _finite(v[7])}
    if v[0] and math.isfinite(v[0]) and v[0] > 0:
        rec.update(grad_row_norm_cv=_finite(v[2]), grad_row_spread=_finite(v[3] / v[0]),
                   grad_elem_cv=_finite(v[4]) if gr.shape[1] > 1 else None, grad_elem_absmean=_finite(v[5]))
    return rec
