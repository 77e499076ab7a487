"""no-sync-never-synced: every backward pass runs inside DDP's no_sync(), so the ranks never exchange gradients."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.detectors._ranks import by_step, rel_diff
from traintriage.probe.detectors.replicas_out_of_sync import REL_TOL


def detect(ev: dict[str, Any]) -> list:
    rows = [(s, recs) for s, recs in by_step(ev) if all(r.get("ddp") and r.get("backward") for r in recs)]
    if not rows:
        return []
    synced = [s for s, recs in rows if any(r.get("backward_synced") for r in recs)]
    if synced:
        return []  # accumulation with no_sync on all but the last micro-batch: a synced backward every step
    bwd = sum(r["backward"] for _, recs in rows for r in recs[:1])
    grads_differ = sum(1 for _, recs in rows if any(rel_diff(r["grads"], recs[0]["grads"]) > REL_TOL
                                                    for r in recs[1:]))
    return [finding(
        "no-sync-never-synced", "error", 0.95,
        f"All {bwd} backward passes of the {len(rows)} optimizer steps ran inside DDP's no_sync() (rank 0; the "
        "other ranks alike), so no gradient was ever all-reduced: each rank steps with its own shard's gradient "
        f"(the gradients differed across ranks at {grads_differ}/{len(rows)} steps). Run the last micro-batch's "
        "backward outside no_sync().",
        steps=len(rows), backward_passes=bwd, synced_steps=0, steps_grads_differ=grads_differ,
        world_size=ev.get("world_size"))]
