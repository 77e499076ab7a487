"""Merge the evidence of a torchrun probe's ranks: which rank saw what, and how each one ended.

Rank 0's records are the probe's evidence as for one process (every single-process check reads them); each
rank's records, grouped by kind, go to ``ev["ranks"]`` for the checks that compare ranks
(probe/detectors/replicas_out_of_sync.py, ...). A crash on any rank is the run's crash: the launcher ends the
other ranks when one fails (their end is then "ended by the launcher"), so the report names the rank whose
script raised, not the rank that was killed after it.
"""

from __future__ import annotations

from typing import Any


def _by_kind(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by.setdefault(r.get("kind", "?"), []).append(r)
    return by


def rank_summary(rank: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One rank in a line's worth of numbers: how it ended, its steps and losses, its crash."""
    by = _by_kind(records)
    end = (by.get("end") or [{}])[-1]
    steps = [s for s in by.get("step", []) if s.get("opt") == 0]
    losses = [s.get("loss") for s in steps if isinstance(s.get("loss"), (int, float))]
    crash = end.get("crash") or None
    return {"rank": rank, "status": end.get("status", "no-end"), "steps": len(steps),
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "crash": crash, "killed": bool(end.get("synthetic")), "records": len(records),
            "ended_at": end.get("ended_at")}


# Errors a rank raises because a peer is gone (gloo's "Connection closed by peer", a DistBackendError): a
# consequence of another rank's failure, not the cause, whichever clock reads first.
_PEER_GONE = ("DistBackendError", "Connection closed by peer", "Connection reset by peer", "Gloo", "NCCL")


def _caused(r: dict[str, Any]) -> tuple[bool, float]:
    """Sort key for the rank that failed first: a rank whose error is its own before one whose peer vanished,
    then the earliest end on the host-wide monotonic clock (per-rank "t" values do not compare)."""
    c = r["crash"] or {}
    text = f"{c.get('type')} {c.get('message')}"
    return any(k in text for k in _PEER_GONE), r.get("ended_at") or float("inf")


def merge(ev: dict[str, Any], raw: dict[str, Any]) -> None:
    """Add ev["ranks"] (per rank: summary + records by kind) and make ev's status/crash the run's (in place)."""
    ranks = raw.get("rank_records") or []
    if not ranks:
        return
    ev["ranks"] = [{**rank_summary(r, recs), "by": _by_kind(recs)} for r, recs in enumerate(ranks)]
    ev["world_size"] = len(ranks)
    raised = [r for r in ev["ranks"] if r["crash"] and not r["killed"]]
    if raised and raw.get("status") == "exited":
        first = min(raised, key=_caused)
        ev["status"] = "crashed"
        ev["crash"] = {**first["crash"], "rank": first["rank"]}
        ev["crash_rank"] = first["rank"]


def rank_notes(ev: dict[str, Any]) -> list[str]:
    """One note per rank (how it ended, steps, loss), plus what a timeout with unequal progress means."""
    ranks = ev.get("ranks") or []
    if not ranks:
        return []
    notes = []
    crash_rank = ev.get("crash_rank")
    for r in ranks:
        how = r["status"]
        if r["killed"] and crash_rank is not None and r["rank"] != crash_rank:
            how = f"ended by the launcher after rank {crash_rank} failed"
        elif r["crash"] and crash_rank is not None and r["rank"] != crash_rank:
            c = r["crash"]
            how = f"failed after rank {crash_rank} did ({c.get('type')}: {str(c.get('message'))[:100]})"
        elif r["killed"] and ev.get("status") in ("timeout", "cancelled"):
            how = f"stopped by the probe ({ev['status']})"
        loss = (f", loss {r['first_loss']:.4g} -> {r['last_loss']:.4g}"
                if r["first_loss"] is not None and r["last_loss"] is not None else "")
        notes.append(f"rank {r['rank']}/{len(ranks)}: {how} after {r['steps']} optimizer steps{loss}")
    if ev.get("status") == "timeout":
        counts = sorted({r["steps"] for r in ranks})
        if len(counts) > 1:
            ahead = [r["rank"] for r in ranks if r["steps"] == counts[-1]]
            behind = [r["rank"] for r in ranks if r["steps"] == counts[0]]
            notes.append(f"the ranks stopped at different steps ({counts[0]} on rank(s) {behind}, {counts[-1]} on "
                         f"rank(s) {ahead}): a rank waits at a collective (all_reduce, barrier, DDP's backward) "
                         "that another rank never reached; look for a rank-dependent branch, loop length or early "
                         "exit around that step.")
        else:
            notes.append(f"every rank stopped after {counts[0]} steps and none ended: the ranks wait at collectives "
                         "that do not match (a barrier or all_reduce only some ranks call, a rank-dependent branch, "
                         "mismatched shapes or order), or the steps are slower than the timeout.")
    return notes


def rank_metrics(ev: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("by", "records", "ended_at", "crash")}
            | {"crash": f"{r['crash'].get('type')}: {str(r['crash'].get('message'))[:200]}" if r["crash"] else None}
            for r in ev.get("ranks") or []]
