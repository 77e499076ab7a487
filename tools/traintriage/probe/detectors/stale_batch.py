"""stale-batch: the script trains on the same batch every step without meaning to.

Three measurements, none of them fooled by overfit mode's replay of the first batch (the replay hands out a
fresh clone each time, and the fingerprints are taken from the real iterator):

1. the DataLoader handed out one batch in all while the script took many steps (fetched once, reused);
2. a fresh iterator every step over a loader whose real first batch is the same each time
   (``next(iter(loader))`` inside the loop, no shuffling);
3. the model's input is the very tensor a DataLoader handed out at an earlier step, unwritten since, while
   the loader kept handing out new batches that never reached the model (a shadowed loop variable).
"""

from __future__ import annotations

import weakref
from typing import Any

from traintriage.probe.check import Check
from traintriage.probe.detectors._common import finding

# Seed: five optimizer steps on one batch is already a pattern, not a warm-up artefact.
MIN_STEPS = 5
# Fresh iterators whose real first batch must be identical (loaders.LOADER_FP_ITERS fingerprints at most 4):
# three equal first batches from three new iterators rule out a shuffled sampler (chance ~ (1/len)^2).
MIN_SAME_ITERS = 3
# Sampled steps after the first on which the model must see the same stale tensor (steps 1, 2 and the last
# are sampled), and the DataLoader batches handed out meanwhile that never reached the model.
MIN_SAME_STEPS = 2
MIN_IGNORED_BATCHES = 2
# Without a DataLoader: the identical input content on this many sampled steps (0, 1, 2 and the last are sampled)
# is one tensor fed again, not a coincidence.
MIN_SAME_FINGERPRINTS = 3
# torch.stack results remembered for tracing the model's input back to a gather (a get_batch() builds one or two
# per step; a few more cover the stacks a loop makes between fetching the batch and the forward).
GATHER_TRACK = 8
# At most this many stacked tensors are read for their offsets (a batch of 512 rows costs ~0.1 ms).
GATHER_MAX_ROWS = 4096


def _training_loader(ev: dict[str, Any]) -> int | None:
    """Index of the DataLoader the model's inputs were traced to, if any."""
    for i in ev.get("inputs", []):
        src = i.get("loader_src")
        if src:
            return src.get("loader")
    return None


def detect(ev: dict[str, Any]) -> list:
    steps = ev.get("steps", [])
    if len(steps) < MIN_STEPS:
        return []
    feeding = _training_loader(ev)
    for ld in ev.get("loaders", []):
        if (ld.get("len") or 0) > 1 and ld.get("batches", 0) <= 1 and ld.get("iters", 0) <= 1:
            return [finding("stale-batch", "error", 0.85,
                            f"A DataLoader with {ld['len']} batches handed out {ld.get('batches', 0)} batch while the "
                            f"script took {len(steps)} optimizer steps: the batch is fetched once "
                            "(next(iter(loader)) outside the loop) and reused.",
                            loader_len=ld["len"], batches_drawn=ld.get("batches", 0), steps=len(steps))]
    for ld in ev.get("loaders", []):
        fps = [f for f in ld.get("first_fps") or [] if f is not None]
        iters = ld.get("iters", 0)
        if feeding is not None and ld.get("index") != feeding:
            continue
        if ((ld.get("len") or 0) > 1 and iters >= MIN_SAME_ITERS and (ld.get("per_iter_max") or 0) <= 1
                and 2 * iters >= len(steps) and len(fps) >= MIN_SAME_ITERS and all(f == fps[0] for f in fps)):
            return [finding("stale-batch", "error", 0.85,
                            f"The script built {iters} iterators over a DataLoader of {ld['len']} batches and took "
                            f"one batch from each, and the first {len(fps)} of them handed out the identical batch: "
                            "next(iter(loader)) inside the loop restarts an unshuffled loader, so every step trains "
                            "on its first batch. Create the iterator once and advance it.",
                            loader_len=ld["len"], iterators=iters, max_batches_per_iterator=ld.get("per_iter_max"),
                            identical_first_batches=len(fps), steps=len(steps))]
    ins = ev.get("inputs", [])
    for ref, later in _stale_runs(ins):
        if len({i["step"] for i in later}) < MIN_SAME_STEPS:
            continue
        ignored = max(i.get("loader_batches", 0) for i in later) - (ref.get("loader_batches") or 0)
        if ignored >= MIN_IGNORED_BATCHES:
            src = ref.get("loader_src") or {}
            return [finding("stale-batch", "error", 0.85,
                            f"The model's input on steps {sorted({i['step'] for i in later})} is the very tensor "
                            f"DataLoader {src.get('loader')} handed out as batch {src.get('batch')} (step "
                            f"{ref.get('step')}), unchanged, while the loader handed out {ignored} newer batches that "
                            "never reached the model: the loop feeds a stale variable (e.g. x, y from a sample batch, "
                            "or a batch fetched once before the loop) instead of the batch it unpacks.",
                            stale_batch=src, first_step=ref.get("step"),
                            same_on_steps=sorted({i["step"] for i in later}), ignored_batches=ignored,
                            steps=len(steps))]
    if ev.get("loaders"):
        return []
    ins = [i for i in ins if i.get("fingerprint")]
    per_step: dict[int, list] = {}
    for i in ins:
        per_step.setdefault(i["step"], i["fingerprint"])
    fps = [per_step[k] for k in sorted(per_step)]
    base = next((i.get("base_shape") for i in ins if i.get("base_shape")), None)
    shape = ins[0].get("shape") if ins else None
    if len(fps) < MIN_SAME_FINGERPRINTS or any(f != fps[0] for f in fps):
        return []
    if base and shape and base[0] > shape[0]:
        return [finding("stale-batch", "error", 0.7,
                        f"The model saw the identical input on every sampled step, a slice of a larger tensor "
                        f"({shape} of {base}): the batch index does not advance.",
                        input_shape=shape, source_shape=base, sampled_steps=len(fps))]
    g = next((i["gathered"] for i in ins if i.get("gathered")), None)
    if g and not g["ordered"]:
        return [finding("stale-batch", "error", 0.75,
                        f"The model saw the identical input on every sampled step ({len(fps)} of them): a batch of "
                        f"{g['rows']} rows that torch.stack gathered at random positions from a larger tensor "
                        f"({g['source_shape']}), built once and fed again and again. The batch function (e.g. "
                        "get_batch()) is called before the training loop instead of inside it.",
                        input_shape=shape, source_shape=g["source_shape"], rows=g["rows"], sampled_steps=len(fps))]
    return []


def _stale_runs(ins: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(reference input, the later inputs compared with it up to its first change) for each traced reference.

    The recording re-anchors on the next DataLoader-traced input once the input changes, so a batch fetched once
    per epoch (``next(iter(loader))`` hoisted above the inner loop) shows as a run within each epoch.
    """
    runs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    open_run = False
    for i in ins:
        if i.get("stale_ref"):
            runs.append((i, []))
            open_run = True
        elif i.get("same_as_first") is not None and runs and open_run:
            if i["same_as_first"]:
                runs[-1][1].append(i)
            else:
                open_run = False
    return runs


# ---------------------------------------------------------------- recording (in the probe's child)
class Recording(Check):
    """Traces the model's input to the DataLoader batch whose memory it views, and on later recorded steps says
    whether it is the very same tensor, unwritten since (fields of the `input` record)."""

    id = "stale-batch"

    def __init__(self) -> None:
        self.first_input: dict[str, Any] | None = None  # first model input traced to a DataLoader batch
        self.gathers: Any = None  # deque of (weakref to a torch.stack result, what it gathered), in the child

    def child_install(self, core: Any) -> None:
        """Watch torch.stack: a batch made without a DataLoader (``torch.stack([data[i:i+T] for i in ix])``) is
        remembered with where its rows came from, so an input fed again on every step can be told from
        full-batch training (the whole tensor, or rows taken in order)."""
        import collections

        import torch

        self.gathers = collections.deque(maxlen=GATHER_TRACK)
        orig = torch.stack

        def stack(tensors: Any, *a: Any, **k: Any) -> Any:
            out = orig(tensors, *a, **k)
            try:
                info = _gathered(tensors, out)
                if info is not None:
                    self.gathers.append((weakref.ref(out), info))
            except Exception:  # noqa: BLE001 - evidence must never break the user's run
                pass
            return out

        stack.__wrapped__ = orig  # type: ignore[attr-defined]
        torch.stack = stack

    def model_input(self, core: Any, module: Any, x: Any, step: int) -> dict[str, Any]:
        try:
            return self._stale_check(core, module, x, step)
        except Exception as e:  # noqa: BLE001 - evidence must never break the user's run
            return {"stale_error": repr(e)}

    def _stale_check(self, core: Any, module: Any, x: Any, step: int) -> dict[str, Any]:
        """Is the model's input the very tensor a DataLoader handed out steps ago, unwritten since?

        Identity, not content: in overfit mode every replayed batch is a fresh clone, so the only way the model
        sees the same memory on two steps is that the script kept the tensor and fed it again.
        """
        import torch

        if not torch.is_grad_enabled() or x.numel() == 0:
            return {}
        if not core.loaders:
            g = self._gather_of(x)
            return {"gathered": g} if g else {}
        total = sum(i["batches"] for i in core.loaders.values())
        fi = self.first_input
        if fi is not None and fi["root"] == id(module) and step > fi["step"]:
            same = _tensor_key(x) == fi["key"] and fi["x"]._version == fi["version"]
            if same:
                return {"loader_batches": total, "same_as_first": same, "first_step": fi["step"]}
            ref = self._anchor(core, module, x, step, total)  # the input moved on: the next run starts here
            return ref or {"loader_batches": total, "same_as_first": False, "first_step": fi["step"]}
        if fi is not None:
            return {"loader_batches": total}
        return self._anchor(core, module, x, step, total) or {"loader_batches": total}

    def _anchor(self, core: Any, module: Any, x: Any, step: int, total: int) -> dict[str, Any] | None:
        """Make x the reference when it views a DataLoader batch; the record fields of a new reference."""
        src = _loader_source(core.loaders.values(), x)
        if src is None:
            return None
        self.first_input = {"x": x, "version": x._version, "key": _tensor_key(x), "root": id(module), "step": step}
        return {"loader_src": src, "loader_batches": total, "stale_ref": True}


    def _gather_of(self, x: Any) -> dict[str, Any] | None:
        """What the torch.stack that made x's memory gathered, if one did (x may be a view of its result)."""
        ptr = x.untyped_storage().data_ptr()
        for ref, info in reversed(self.gathers or ()):
            t = ref()
            if t is not None and ptr and t.untyped_storage().data_ptr() == ptr:
                return info
        return None


def _gathered(tensors: Any, out: Any) -> dict[str, Any] | None:
    """Rows stacked from views of one larger tensor: its shape, the row count, and whether they were taken in
    order (a sweep, e.g. every window of the data) or at random positions (a sampled mini-batch)."""
    if not isinstance(tensors, list | tuple) or not 2 <= len(tensors) <= GATHER_MAX_ROWS:
        return None
    first = tensors[0]
    base = getattr(first, "_base", None)
    if base is None or tensors[-1]._base is not base or base.numel() <= out.numel():
        return None
    if any(t._base is not base for t in tensors):
        return None
    offsets = [t.storage_offset() for t in tensors]
    return {"source_shape": list(base.shape), "rows": len(tensors),
            "ordered": all(a < b for a, b in zip(offsets, offsets[1:], strict=False))}


def _tensor_key(x: Any) -> tuple:
    """Which memory a tensor views: storage address, offset, shape, strides, dtype, device."""
    return (x.untyped_storage().data_ptr(), x.storage_offset(), tuple(x.shape), tuple(x.stride()), str(x.dtype),
            str(x.device))


def _loader_source(infos: Any, x: Any) -> dict[str, Any] | None:
    """The DataLoader batch whose memory x views (a batch tensor still alive: its address cannot be reused)."""
    ptr = x.untyped_storage().data_ptr()
    if not ptr:
        return None
    for info in infos:
        for ref, n in reversed(info["_recent"]):
            t = ref()
            if t is not None and t.device == x.device and t.untyped_storage().data_ptr() == ptr:
                return {"loader": info["index"], "batch": n}
    return None
