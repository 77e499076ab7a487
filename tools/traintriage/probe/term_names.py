"""Name the loss's additive terms (probe/term_graph.py) and measure the outer transforms above them.

Each term found in the graph gets a key: the name the recorder already gave it when it is a standard loss call
or a `traintriage.term` marker (so `--ablate mse_loss` keeps working), else the expression text at its source
(`50 * aux`, `name#k` for the k-th term with the same text, as for repeated loss calls). Each transform gets
its slope d(outer)/d(inner) at this step: ~0 means the loss no longer reacts to what is under it.

Runs in the probe's child, at a sampled step, while the graph is alive. Never imported by the parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Found:
    new_terms: dict[str, Any] = field(default_factory=dict)  # key -> tensor, terms no recorder hook captured
    partition: list[str] = field(default_factory=list)  # keys of the additive terms (their parts sum to the loss)
    exprs: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"expr", "where", "id"}
    transforms: list[dict[str, Any]] = field(default_factory=list)
    watch: list[dict[str, Any]] = field(default_factory=list)  # for the tracer: value and ablation positions
    detached: list[dict[str, Any]] = field(default_factory=list)  # scalars added with no gradient: {"expr", ...}
    unnamed: int = 0  # additive terms with no tensor to measure (made inside a module's forward)
    complete: bool = True


def discover_terms(loss: Any, captured: dict[str, Any], tracer: Any) -> Found:
    """Split `loss` into its additive terms and name them (see the module doc)."""
    import torch
    from torch.autograd.graph import GradientEdge

    from traintriage.probe.term_graph import split_loss
    from traintriage.probe.term_trace import expr_text

    out = Found()
    if tracer is None or loss.grad_fn is None:
        return out
    ops = tracer.ops
    by_node = {t.grad_fn: k for k, t in captured.items() if t.grad_fn is not None}
    def same_line(a: Any, b: Any) -> bool:
        pa, pb = ops.get(a), ops.get(b)
        return pa is None or pb is None or (pa[1].file, pa[1].line) == (pb[1].file, pb[1].line)

    sp = split_loss(loss, same_line)
    out.complete = sp.complete
    seen_core: set[tuple[int, int]] = set()
    used: dict[str, int] = {}
    keys_of_part: list[str | None] = []
    for part in sp.parts:
        node, nr = part.edge
        if (id(node), nr) in seen_core:
            keys_of_part.append(None)
            continue
        seen_core.add((id(node), nr))
        top = ops.get(part.top) or ops.get(node)
        core = ops.get(node)
        tensor = core[0] if core else None
        key = by_node.get(node)
        if key is not None:
            tensor = captured[key]
        elif tensor is None and type(node).__name__ == "AccumulateGrad":
            tensor = node.variable  # a parameter added to the loss as it is
        if tensor is None:
            out.unnamed += 1
            keys_of_part.append(None)
            continue
        text = expr_text(top[1]) if top else type(node).__name__
        if key is None:
            n = used.get(text, 0) + 1
            used[text] = n
            key = text if n == 1 else f"{text}#{n}"
            out.new_terms[key] = tensor
            if core and top:
                out.watch.append({"key": key, "core": core[1].key(), "kc": core[2], "top": top[1].key(),
                                  "kt": top[2]})
        out.partition.append(key)
        out.exprs[key] = {"expr": text, "where": top[1].where() if top else None,
                          "id": f"t{len(out.partition)}"}
        keys_of_part.append(key)
    for node in sp.adds:
        for tensor, pos in tracer.constants.get(node, []):
            out.detached.append({"expr": expr_text(pos), "where": pos.where(), "value": float(tensor)})
    for i, tr in enumerate(sp.transforms):
        named = ops.get(tr.top) or ops.get(tr.node)
        inner = ops.get(tr.inner[0])
        slope = None
        try:
            g_out, g_in = torch.autograd.grad(loss, [GradientEdge(tr.node, 0), GradientEdge(*tr.inner)],
                                              retain_graph=True, allow_unused=True)
            if g_out is not None and g_in is not None and float(g_out.abs().mean()) > 0:
                slope = float(g_in.abs().mean()) / float(g_out.abs().mean())
        except RuntimeError:
            slope = None
        under = [k for k, p in zip(keys_of_part, sp.parts, strict=True) if k is not None and i in p.transforms]
        out.transforms.append({
            "op": tr.op, "expr": expr_text(named[1]) if named else tr.op, "where": named[1].where() if named else None,
            "slope": slope, "inner_value": float(inner[0].detach().float().mean()) if inner else None,
            "terms": under, "whole_loss": len(under) == len(out.partition) and not any(
                i not in p.transforms for p in sp.parts),
        })
    return out
