"""Loss-input statistics: the base of every `loss` record (what the loss got: shapes, dtypes, the op that
produced its input, class/target statistics). Many checks read it (double-softmax, sigmoid-bceloss,
nll-without-log-softmax, ce-target-form, unnormalized-targets, class-imbalance-collapse, dead-relu, ...).
"""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.check import STAT_MAX_ELEMS, _finite, _tolist

# Autograd nodes that only move, select or re-type values: a loss input's producer is looked up through them
# (squeeze(-1), view, [:, 0], .float() leave a sigmoid's output a sigmoid's output).
PASS_THROUGH_OPS = {"Squeeze", "Unsqueeze", "View", "UnsafeView", "Reshape", "ReshapeAlias", "Select", "Slice",
                    "Expand", "Permute", "Transpose", "T", "Clone", "ToCopy", "Alias", "Index", "Contiguous"}
# Losses whose value does not change when prediction and target swap places (f(a, b) == f(b, a)): a script may
# write them loss_fn(target, prediction) and be right (PyTorch docs: MSELoss, L1Loss, SmoothL1Loss, HuberLoss are
# functions of |a - b|).
SYMMETRIC_LOSSES = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"}
# How many pass-through nodes are followed before giving up (a bounded walk).
PRODUCER_DEPTH = 8


def _producer(t: Any) -> str | None:
    """The op that computed `t` (its autograd node without the Backward suffix), through pass-through ops:
    'Sigmoid', 'Addmm', 'Softmax', ... None for a tensor without a graph."""
    node = getattr(t, "grad_fn", None)
    for _ in range(PRODUCER_DEPTH):
        if node is None:
            return None
        name = type(node).__name__
        name = name[:name.rfind("Backward")] if "Backward" in name else name
        nxt = [f for f, _ in node.next_functions if f is not None]
        if name not in PASS_THROUGH_OPS or len(nxt) != 1:
            return name
        node = nxt[0]
    return None


# The model's output reaching a loss is analysed on the first backward passes only (the loss's structure does
# not change between steps): d(loss)/d(output) plus one Hessian-vector product, on the output-to-loss part of

def _reduction(kwargs: dict[str, Any]) -> str:
    """How the loss call reduces its elements: 'mean', 'sum' or 'none' (the legacy size_average/reduce flags
    resolved the way torch.nn._reduction.legacy_get_string does: size_average=False means a sum)."""
    sa, red = kwargs.get("size_average"), kwargs.get("reduce")
    if sa is not None or red is not None:
        if red is False:
            return "none"
        return "sum" if sa is False else "mean"
    r = kwargs.get("reduction", "mean")
    return r if r in ("mean", "sum", "none", "batchmean") else "mean"


def _loss_stats(fn: str, inp: Any, target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    import torch

    with torch.no_grad():
        x = inp.detach()
        t = target.detach()
        rec: dict[str, Any] = {"input_shape": list(x.shape), "target_shape": list(t.shape),
                               "input_dtype": str(x.dtype), "target_dtype": str(t.dtype),
                               "target_float": t.is_floating_point(), "producer": _producer(inp)}
        rec["reduction"] = _reduction(kwargs)
        xf = x.float()
        if fn in ("cross_entropy", "nll_loss") and x.dim() >= 1:
            cdim = 1 if x.dim() >= 2 else 0
            rows = xf.movedim(cdim, -1).reshape(-1, x.shape[cdim])[:4096]
            rec["num_classes"] = int(x.shape[cdim])
            s = rows.sum(-1)
            lse = torch.logsumexp(rows, -1)
            v = _tolist([rows.min(), rows.max(), (s - 1).abs().max(), lse.abs().max(), lse.mean(),
                         rows.std() if rows.numel() > 1 else rows.sum() * 0])
            rec.update(input_min=_finite(v[0]), input_max=_finite(v[1]), rowsum_dev=_finite(v[2]),
                       logsumexp_absmax=_finite(v[3]), logsumexp_mean=_finite(v[4]), input_std=_finite(v[5]))
            eps = float(kwargs.get("label_smoothing", 0.0) or 0.0)
            if eps > 0 and fn == "cross_entropy":
                c = x.shape[cdim]
                hi, lo = 1 - eps + eps / c, eps / c
                rec["loss_floor"] = float(-(hi * math.log(hi) + (c - 1) * lo * math.log(lo)))
                rec["label_smoothing"] = eps  # detectors/double_softmax.py: the floor moves with it
            ii = kwargs.get("ignore_index", -100)
            rec["ignore_index"] = int(ii) if ii is not None else None
            if not t.is_floating_point():
                tt = t.reshape(-1)
                if tt.numel():
                    ids, counts = torch.unique(tt, return_counts=True)
                    top = int(counts.argmax())
                    rec["n_targets"] = int((tt != rec["ignore_index"]).sum())  # the terms a 'sum' adds up
                    rec.update(target_min=int(tt.min()), target_max=int(tt.max()), target_n_unique=int(ids.numel()),
                               target_top_value=int(ids[top]), target_top_frac=float(counts[top]) / tt.numel())
                    pred = rows.argmax(-1)
                    pids, pcounts = torch.unique(pred, return_counts=True)
                    ptop = int(pcounts.argmax())
                    rec.update(pred_top_value=int(pids[ptop]), pred_top_frac=float(pcounts[ptop]) / pred.numel(),
                               pred_n_unique=int(pids.numel()))
                    keep = tt != rec["ignore_index"]
                    if keep.any() and rows.shape[0] == tt.shape[0]:
                        rec["accuracy"] = float((pred[keep[: pred.shape[0]]] == tt[keep]).float().mean())
                        minority = keep & (tt != rec["target_top_value"])
                        if minority.any():  # recall on every class but the majority one
                            rec["minority_recall"] = float((pred[minority] == tt[minority]).float().mean())
                            rec["minority_n"] = int(minority.sum())
            else:
                tv = t.float()
                rec.update(target_min=float(tv.min()), target_max=float(tv.max()))
                if t.shape == x.shape:
                    tr = tv.movedim(cdim, -1).reshape(-1, x.shape[cdim])
                    rec["target_rowsum_dev"] = float((tr.sum(-1) - 1).abs().max())
                    if rec["target_rowsum_dev"] < 1e-3 and float(tr.min()) >= 0:
                        # soft targets: the lowest reachable loss is their entropy, not 0
                        rec["loss_floor"] = float(-(tr * tr.clamp_min(1e-12).log()).sum(-1).mean())
        elif fn in ("binary_cross_entropy_with_logits", "binary_cross_entropy"):
            v = _tolist([xf.min(), xf.max(), xf.mean()])
            rec.update(input_min=_finite(v[0]), input_max=_finite(v[1]), input_mean=_finite(v[2]),
                       n_targets=int(x.numel()))
            tv = t.float()
            rec.update(target_min=float(tv.min()), target_max=float(tv.max()), target_mean=float(tv.mean()))
            if t.shape != x.shape:
                rec["shape_mismatch"] = True
            elif fn == "binary_cross_entropy":
                # BCELoss clamps log(p) at -100: an element at exactly 0 or 1 on the wrong side of its target adds
                # the clamped loss 100 and no gradient (PyTorch docs, BCELoss)
                bound = (xf >= 1) | (xf <= 0)
                wrong = ((xf >= 1) & (tv < 0.5)) | ((xf <= 0) & (tv > 0.5))
                v = _tolist([bound.float().mean(), wrong.float().mean()])
                rec.update(at_bound_frac=_finite(v[0]), clamped_wrong_frac=_finite(v[1]))
        else:  # regression losses
            tv = t.float().reshape(-1)[:STAT_MAX_ELEMS]
            v = _tolist([tv.mean(), tv.std() if tv.numel() > 1 else tv.sum() * 0, tv.abs().max(),
                         xf.mean(), xf.std() if xf.numel() > 1 else xf.sum() * 0])
            rec.update(target_mean=_finite(v[0]), target_std=_finite(v[1]), target_absmax=_finite(v[2]),
                       input_mean=_finite(v[3]), input_std=_finite(v[4]))
            if t.shape != x.shape:
                rec["shape_mismatch"] = True
                try:
                    rec["broadcast_shape"] = list(torch.broadcast_shapes(x.shape, t.shape))
                except RuntimeError:
                    pass
            elif x.is_floating_point() and x.numel():
                # predictions at exactly 0 (a ReLU clamp on the output): no gradient flows back from them,
                # whatever the target there; dead_relu reads the share stuck at 0 where the target is not 0
                xs, ts = xf.reshape(-1)[:STAT_MAX_ELEMS], t.float().reshape(-1)[:STAT_MAX_ELEMS]
                z = xs == 0
                v = _tolist([xs.min(), z.float().mean(), (z & (ts != 0)).float().mean(), (ts < 0).float().mean()])
                rec.update(input_min=_finite(v[0]), input_zero_frac=v[1], zero_pred_nonzero_target_frac=v[2],
                           target_neg_frac=v[3])
    return rec


# Pearson |r| at or above this between a target and one input column means the target is (a linear
