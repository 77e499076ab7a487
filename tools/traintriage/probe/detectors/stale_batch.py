"""stale-batch: the script trains on the same batch every step without meaning to."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

MIN_STEPS = 5


def detect(ev: dict[str, Any]) -> list:
    steps = ev.get("steps", [])
    if len(steps) < MIN_STEPS:
        return []
    for ld in ev.get("loaders", []):
        if (ld.get("len") or 0) > 1 and ld.get("batches", 0) <= 1 and ld.get("iters", 0) <= 1:
            return [finding("stale-batch", "error", 0.85,
                            f"A DataLoader with {ld['len']} batches handed out {ld.get('batches', 0)} batch while the "
                            f"script took {len(steps)} optimizer steps: the batch is fetched once "
                            "(next(iter(loader)) outside the loop) and reused.",
                            loader_len=ld["len"], batches_drawn=ld.get("batches", 0), steps=len(steps))]
    if ev.get("loaders"):
        return []
    ins = [i for i in ev.get("inputs", []) if i.get("fingerprint")]
    per_step: dict[int, list] = {}
    for i in ins:
        per_step.setdefault(i["step"], i["fingerprint"])
    fps = [per_step[k] for k in sorted(per_step)]
    base = next((i.get("base_shape") for i in ins if i.get("base_shape")), None)
    shape = ins[0].get("shape") if ins else None
    if len(fps) >= 3 and all(f == fps[0] for f in fps) and base and shape and base[0] > shape[0]:
        return [finding("stale-batch", "error", 0.7,
                        f"The model saw the identical input on every sampled step, a slice of a larger tensor "
                        f"({shape} of {base}): the batch index does not advance.",
                        input_shape=shape, source_shape=base, sampled_steps=len(fps))]
    return []
