"""unused-branch-untrained: parameters the optimizer holds get no gradient on any rank in any step, so the branch
they belong to never trains (DDP's find_unused_parameters=True lets such a model run without an error)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.detectors._ranks import rank_records

# Optimizer steps every rank must have made before "never got a gradient" is read as "never used": a branch
# taken on a fraction f of the batches is missed by all ranks in n steps with probability (1 - f)^(ranks * n);
# with two ranks and 10 steps a branch used on 1 batch in 10 is missed 12 % of the time, one used on every
# third batch 0.03 % of the time. The probe runs 40 steps by default.
MIN_STEPS = 10


def detect(ev: dict[str, Any]) -> list:
    params = rank_records(ev, "params")
    if len(params) < 2 or not all(params):
        return []
    steps = [len(r.get("by", {}).get("ddp", [])) for r in ev.get("ranks") or []]
    if min(steps) < MIN_STEPS:
        return []
    last = [recs[-1] for recs in params]
    if not all(p.get("n_with_grad") for p in last):  # nothing got a gradient: a wiring fault, not a branch
        return []
    never = set(last[0].get("unused") or [])
    for p in last[1:]:
        never &= set(p.get("unused") or [])
    if not never:
        return []
    names = sorted(never)
    find_unused = any(x.get("find_unused") for recs in rank_records(ev, "ddp") for x in recs)
    how = ("DDP runs with find_unused_parameters=True, which lets a model skip them without an error, "
           if find_unused else "")
    return [finding(
        "unused-branch-untrained", "error" if find_unused else "warning", 0.85 if find_unused else 0.5,
        f"{len(names)} parameter tensor(s) the optimizer holds got no gradient on any of the {len(last)} ranks in "
        f"{min(steps)} steps: {', '.join(names[:5])}. {how}The branch they belong to is never in the graph, so it "
        "keeps its initial weights.",
        params=names[:20], ranks=len(last), steps=min(steps), find_unused_parameters=find_unused)]
