"""sampler-epoch-not-set: a shuffling DistributedSampler hands out the same order every epoch (set_epoch never
called), measured from the indices it yields."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.detectors._ranks import rank_records


def detect(ev: dict[str, Any]) -> list:
    per_rank = rank_records(ev, "sampler") or [ev.get("records", {}).get("sampler", [])]
    out = []
    for recs in per_rank[:1]:  # every rank's sampler shares the epoch; rank 0 speaks for them
        by_sampler: dict[int, list[dict[str, Any]]] = {}
        for r in recs:
            by_sampler.setdefault(r["index"], []).append(r)
        for idx, its in by_sampler.items():
            if len(its) < 2 or not its[0].get("shuffle"):
                continue
            if len({r["epoch"] for r in its}) == 1 and len({r["fp"] for r in its}) == 1:
                out.append(finding(
                    "sampler-epoch-not-set", "error", 0.9,
                    f"DistributedSampler #{idx} (shuffle=True) handed out the same {its[0]['n']} indices in the "
                    f"same order in all {len(its)} epochs seen (its epoch stayed {its[0]['epoch']}: set_epoch() is "
                    f"never called), so every epoch repeats the first one's order; first indices "
                    f"{its[0]['head']}. Call sampler.set_epoch(epoch) before each epoch.",
                    sampler=idx, epochs_seen=len(its), epoch=its[0]["epoch"], head=its[0]["head"],
                    n=its[0]["n"], replicas=its[0].get("replicas")))
    return out
