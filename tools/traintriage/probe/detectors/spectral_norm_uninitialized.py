"""spectral-norm-uninitialized: a spectral-normalized layer ran in eval mode before its power iteration ever ran.

`torch.nn.utils.spectral_norm` divides the weight by an estimate of its largest singular value, u^T W v, and
refines u and v by one power-iteration step on every *training-mode* forward; in eval mode it reuses them as
they are (PyTorch docs, torch.nn.utils.spectral_norm). Right after the layer is wrapped, u and v are random
unit vectors, so a model evaluated before any training-mode forward divides W by a random projection of it:
the weight it uses is many times larger than the intended sigma = 1 (a user saw a loss of 15,850 where the
trained model gives 0.002, issue 13). The parametrization API (`torch.nn.utils.parametrizations.spectral_norm`)
runs 15 iterations when it wraps the layer, so it is measured the same way but does not show the fault.

Measured, not guessed: at eval-mode forwards of every spectral-normalized layer (the first one of each
optimizer step, a few steps), the recording computes the estimate the layer used (u^T W v), the weight
matrix's real largest singular value, and how many training-mode forwards the layer had run before. The
finding needs the layer's latest measurement to show both: no power iteration of its own, and an estimate
far below the real value. A copy whose u, v are refreshed from an iterated layer (an EMA teacher that copies
buffers too) is wrong only at its very first forward and recovers: not a finding.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import Check, _finite, _tolist
from traintriage.probe.detectors._common import finding

# The layer's weight is used at this multiple (or more) of the scale spectral norm promises (sigma / estimate).
# From a random start one power-iteration step already brings the estimate within ~1.5x of sigma (a 64x64
# Linear: 0.77 vs 1.14), and it converges from there; random u, v miss by 20x on the same layer (their
# projection u^T W v shrinks like 1/sqrt(width)). 3x sits well between the two.
SIGMA_RATIO = 3.0
# Optimizer steps on which a layer's eval-mode forward is measured (the first such forward of each step): the
# first shows the start, the later ones whether u, v were ever refreshed (one SVD per measurement).
CHECKS_PER_LAYER = 3
# Layers measured at most, and the largest weight whose singular value is computed (one SVD each).
MAX_LAYERS = 32
MAX_WEIGHT_ELEMS = 1 << 22


def detect(ev: dict[str, Any]) -> list:
    latest: dict[str, dict[str, Any]] = {}
    for r in (ev.get("records") or {}).get("specnorm", []):
        if "ratio" in r:
            latest[f"{r['layer']}#{r.get('n', 0)}"] = r
    bad = [r for r in latest.values() if r.get("train_forwards") == 0 and (r.get("ratio") or 0.0) >= SIGMA_RATIO
           and r.get("measured", 1) >= 2]
    if not bad:
        return []
    worst = max(bad, key=lambda r: r["ratio"])
    layers = sorted({r["layer"] for r in bad})
    # still un-iterated after optimizer steps: the layer is in use during training (a teacher, a target network),
    # not only in one evaluation before training started
    in_training = max(r.get("step") or 0 for r in bad) >= 1
    return [finding(
        "spectral-norm-uninitialized", "error" if in_training else "warning", 0.9 if in_training else 0.7,
        f"{len(layers)} spectral-normalized layer(s) ran in eval mode before any training-mode forward: their "
        f"power iteration never ran, so they divided the weight by {worst['estimate']:.3g} instead of its "
        f"largest singular value {worst['sigma']:.3g} ({worst['layer']}: weights used {worst['ratio']:.3g}x "
        "too large). Run a few training-mode forwards (or torch.nn.utils.parametrizations.spectral_norm, "
        "which iterates when it wraps the layer) before evaluating.",
        layers=layers[:10], max_ratio=worst["ratio"], estimate=worst["estimate"], sigma=worst["sigma"],
        step=worst.get("step"), threshold=SIGMA_RATIO)]


# ---------------------------------------------------------------- recording (in the probe's child)
def _spectral_norms(module: Any) -> list[tuple[Any, Any, Any, Any]]:
    """(weight matrix, u, v, style) of every spectral norm on this module (hook or parametrization API)."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.spectral_norm import SpectralNorm

    out = []
    for h in module._forward_pre_hooks.values():
        if isinstance(h, SpectralNorm):
            w = getattr(module, h.name + "_orig")
            out.append((h.reshape_weight_to_matrix(w), getattr(module, h.name + "_u"),
                        getattr(module, h.name + "_v"), "hook"))
    if parametrize.is_parametrized(module):
        for plist in module.parametrizations.values():
            for p in plist:
                if type(p).__name__ == "_SpectralNorm" and hasattr(p, "_u"):
                    out.append((p._reshape_weight_to_matrix(plist.original), p._u, p._v, "parametrization"))
    return out


class Recording(Check):
    """At the first eval-mode forwards of each spectral-normalized layer: the estimate u^T W v it used, the
    real largest singular value, and its training-mode forwards so far (`specnorm` records)."""

    id = "spectral-norm-uninitialized"

    def __init__(self) -> None:
        self.has_sn: dict[int, bool] = {}  # module id -> carries a spectral norm
        self.top_has_sn: dict[int, bool] = {}  # top-level module id -> holds a spectral-normalized layer
        self.train_forwards: dict[int, int] = {}
        self.checked: dict[int, tuple[int, int]] = {}  # module id -> (measurements, last step measured)

    def _sn(self, module: Any) -> bool:
        mid = id(module)
        sn = self.has_sn.get(mid)
        if sn is None:
            sn = self.has_sn[mid] = bool(module._forward_pre_hooks or getattr(module, "parametrizations", None)) \
                and bool(_spectral_norms(module))
        return sn

    def wants_inner(self, core: Any, top: Any) -> bool:
        """Only spectral-normalized layers are read; whether a model holds one is looked up once per model and
        again on sampled steps."""
        has = None if core.sampling else self.top_has_sn.get(id(top))
        if has is None:
            has = self.top_has_sn[id(top)] = any(self._sn(m) for m in top.modules())
        return has

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        mid = id(module)
        if not self._sn(module):
            return
        if module.training:
            self.train_forwards[mid] = self.train_forwards.get(mid, 0) + 1
            return
        n, last = self.checked.get(mid, (0, -1))
        if n >= CHECKS_PER_LAYER or last == core.n_steps or (n == 0 and len(self.checked) >= MAX_LAYERS):
            return
        self.checked[mid] = (n + 1, core.n_steps)
        try:
            self._measure(core, module, n + 1)
        except Exception as e:  # noqa: BLE001 - evidence must never break the user's run
            core.emit("specnorm", layer=core.mod_names.get(mid, type(module).__name__), error=repr(e)[:300])

    def _measure(self, core: Any, module: Any, measured: int) -> None:
        import torch

        core._refresh_tracked()  # module names, when the model has not run a backward yet
        for k, (w, u, v, style) in enumerate(_spectral_norms(module)):
            if w.numel() > MAX_WEIGHT_ELEMS:
                continue
            with torch.no_grad():
                wm = w.detach().float()
                est, sigma = _tolist([torch.dot(u.float(), torch.mv(wm, v.float())), torch.linalg.matrix_norm(wm, 2)])
            ratio = sigma / abs(est) if est else float("inf")
            core.emit("specnorm", layer=core.mod_names.get(id(module), type(module).__name__), style=style,
                      cls=type(module).__name__, step=core.n_steps, estimate=_finite(est), sigma=_finite(sigma),
                      ratio=_finite(ratio) if ratio != float("inf") else 1e12,
                      train_forwards=self.train_forwards.get(id(module), 0), n=k, measured=measured)
