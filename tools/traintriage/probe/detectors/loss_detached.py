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
    dead = p.get("dead_opts") or []
    # only with another optimizer whose parameters do learn, and no trained parameter left out of every optimizer
    # (that is an optimizer holding a stale copy of the model: params-not-in-optimizer)
    if (bws and p and trainable and dead and len(dead) < p.get("n_optimizers", 0) and not p.get("n_orphans")
            and p.get("n_with_grad", 0) > 0):
        d = dead[0]
        return [finding("loss-detached", "error", 0.9,
                        f"Optimizer {d['index']} ({d['cls']}) stepped {d['steps']} times, yet none of its "
                        f"{d['n_params']} parameter tensors ever got a gradient while the other optimizer's did: "
                        "the loss backpropagated for it does not reach its model (e.g. a GAN generator's loss "
                        "scoring fake.detach(), or a .detach()/.item()/no_grad on that model's output).",
                        optimizer=d["index"], optimizer_class=d["cls"], steps=d["steps"], n_params=d["n_params"],
                        dead_optimizers=len(dead), params_with_grad=p.get("n_with_grad"))]
    if bws and p and trainable and p.get("n_with_grad", 0) == 0:
        return [finding("loss-detached", "error", 0.85,
                        "backward() ran but no model parameter received a gradient: the loss does not depend "
                        "on the parameters (a .detach(), .item(), numpy round-trip or no_grad in the forward).",
                        backward_calls=len(bws), params_with_grad=0, trainable_tensors=trainable)]
    return []
