"""attention-softmax-wrong-axis: attention weights normalised along one axis and summed along another.

A property of the run's own tensors, not of names: in the first forwards (probe/op_window.py) every softmax
output is followed (through dropout, masked_fill, dtype casts) to the matmul that uses it as weights. A matmul
contracts its first operand's last axis and its second operand's second-to-last axis; weights contracted along
the axis the softmax normalised form a weighted average (each output is a convex mix of the values, Vaswani et
al. 2017, eq. 1). Weights contracted along any other axis are not a distribution over what they mix: with
`softmax(q @ k^T, dim=-2)` each query's weights over the keys no longer sum to 1 (measured: the mean |sum - 1| is
recorded), and a key masked with -inf for every query makes a whole normalised column -inf, whose softmax is NaN
(the NaN loss the issue saw, reported as non-finite-loss).

A softmax whose output is transposed or renormalised before the matmul (attention pooling over time, slot
attention's softmax over slots then a renormalisation over inputs) is a new tensor and is not followed: only a
softmax output used as it is counts.
"""

from __future__ import annotations

import weakref
from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.op_window import OpWindow

# Ops whose output is the softmax output with the same normalised axis (elementwise, shape kept).
KEEPS_AXIS = frozenset({"dropout", "masked_fill", "masked_fill_", "nan_to_num", "to", "float", "half", "bfloat16",
                        "type_as", "contiguous", "clone"})
MATMULS = frozenset({"matmul", "__matmul__", "bmm"})
# Softmax outputs followed per watched forward, and matmul uses recorded (each is one small reduction).
MAX_TRACKED = 64
MAX_USES = 16


def detect(ev: dict[str, Any]) -> list:
    recs = (ev.get("records") or {}).get("softmaxuse", [])
    bad = [r for r in recs if not r.get("right")]
    if not bad:
        return []
    w = bad[0]
    return [finding(
        "attention-softmax-wrong-axis", "error", 0.9,
        f"A softmax normalised over axis {w['dim']} of a {w['shape']} tensor is used as attention weights by a "
        f"matmul that sums over axis {w['contracted']}: the weights each output mixes are not a distribution "
        f"(they sum to 1 +- {w['sum_dev']:.2g} on average, not 1), and a key masked with -inf everywhere turns the "
        f"normalised axis into NaN. Take the softmax over the keys (dim=-1 of q @ k^T).",
        dim=w["dim"], contracted=w["contracted"], shape=w["shape"], sum_dev=w["sum_dev"], wrong_uses=len(bad),
        uses=len(recs))]


# ---------------------------------------------------------------- recording (in the probe's child)
class Recording(OpWindow):
    """Softmax outputs followed to the matmul that contracts them (`softmaxuse`: normalised vs contracted axis)."""

    id = "attention-softmax-wrong-axis"

    def __init__(self) -> None:
        super().__init__()
        self.tracked: dict[int, tuple[Any, int]] = {}  # id(tensor) -> (weakref, normalised axis >= 0)
        self.uses = 0

    def window_done(self, core: Any) -> None:
        self.tracked.clear()
        self.uses = 0

    def _info(self, t: Any) -> int | None:
        hit = self.tracked.get(id(t))
        return hit[1] if hit is not None and hit[0]() is t else None

    def _track(self, t: Any, dim: int) -> None:
        if len(self.tracked) < MAX_TRACKED:
            self.tracked[id(t)] = (weakref.ref(t), dim)

    def op(self, core: Any, name: str, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        import torch

        if not isinstance(out, torch.Tensor) or not args:
            return
        if name == "softmax":
            dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
            if isinstance(dim, int) and out.dim() >= 2:
                self._track(out, dim % out.dim())
        elif name in KEEPS_AXIS:
            dim = self._info(args[0])
            if dim is not None and out.shape == args[0].shape:
                self._track(out, dim)
        elif name in MATMULS and len(args) >= 2 and self.uses < MAX_USES:
            for pos, t in enumerate(args[:2]):
                dim = self._info(t)
                if dim is None or t.dim() < 2:
                    continue
                contracted = t.dim() - 1 if pos == 0 else t.dim() - 2
                if t.shape[contracted] < 2 or t.shape[dim] < 2:
                    continue
                self.uses += 1
                with torch.no_grad():
                    sums = t.detach().float().sum(contracted)
                    dev = float((sums - 1).abs().nan_to_num(nan=float("inf")).mean())
                core.emit("softmaxuse", step=core.n_steps, right=dim == contracted, dim=dim, contracted=contracted,
                          shape=list(t.shape), operand=pos, sum_dev=dev if dev != float("inf") else 1e12)
