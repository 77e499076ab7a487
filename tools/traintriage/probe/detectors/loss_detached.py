"""loss-detached: backward() runs but the loss is not connected to the parameters."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding


def detect(ev: dict[str, Any]) -> list:
    bws = ev.get("backwards", [])
    p = ev.get("params") or {}
    detached = [b for b in bws if b.get("numel") == 1 and not b.get("has_grad_fn")]
    trainable = p.get("n_root_trainable", sum(1 for r in ev.get("roots", []) if r.get("n_trainable")))
    if detached and trainable:
        return [finding("loss-detached", "error", 0.95,
                        "The tensor passed to backward() has no grad_fn: it was rebuilt from a number "
                        "(e.g. torch.tensor(loss.item(), requires_grad=True)) or detached, so no gradient "
                        "reaches the model.",
                        backward_calls_checked=len(bws), detached_calls=len(detached),
                        loss_is_leaf=detached[0].get("is_leaf"))]
    if bws and p and trainable and p.get("n_with_grad", 0) == 0:
        return [finding("loss-detached", "error", 0.85,
                        "backward() ran but no model parameter received a gradient: the loss does not depend "
                        "on the parameters (a .detach(), .item(), numpy round-trip or no_grad in the forward).",
                        backward_calls=len(bws), params_with_grad=0, trainable_tensors=trainable)]
    return []
