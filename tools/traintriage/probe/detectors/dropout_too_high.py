"""dropout-too-high: the dropout the script applies erases most of what the model has learned, on its own batch.

Measured on the run, not read from names. Every dropout call is seen where it happens (`F.dropout` and its
1d/2d/3d/alpha variants, which `nn.Dropout*` and `nn.MultiheadAttention` call, and the `dropout_p` of
`F.scaled_dot_product_attention`), so the rate `p` is known from the calls themselves. When some call drops more
than `P_HIGH`, the model's top-level training forward is measured at the first step and at a few late steps of the
probe, on the very batch the script trains on, with the loss function the script applies to that output:

* a replay of the script's own forward (same input, the RNG state it started from) must reproduce its output:
  that proves the input is complete (no keyword arguments we cannot see) and the forward deterministic;
* `clean`: the same weights with every dropout off (the loss of the network the optimizer is building);
* `noisy`: the same weights with the script's dropout on (what the optimizer sees when it trains with it),
  averaged over a few masks.

Each extra forward runs under no_grad, with the global hooks off, the RNG state forked (the script's randomness is
untouched) and every buffer (BatchNorm statistics, spectral-norm vectors) restored afterwards: the run goes on as if
nothing happened. The overfit check switches dropout modules off for its own run, so it never sees this fault.

Judged: `kept`, the share of the loss decrease the model achieved (clean loss at the start minus now) that is still
there with dropout on. Srivastava et al. (JMLR 2014) retain 50-80 % of hidden units (drop 0.2-0.5); a transformer's
0.1 keeps nearly all of what it learned and a 0.5 MLP most of it; a drop of 0.75 stacked over a few layers erases most
of it, so the gradient the optimizer follows is mostly noise.

Limits: the loss must be taken on the model's output as it is (`out[idx_train]` is not measured); a model that trains
with its dropout on (functional dropout, which the overfit run cannot switch off) and learns nothing in the probe's
window has no decrease to erase and is not judged; CUDA outputs and torch.compile'd models are not replayed.
"""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.check import Check
from traintriage.probe.detectors._common import finding

# A dropout call with p above this is outside the range that is known to work for hidden units (Srivastava et al.,
# JMLR 2014, section 7: retain probability 0.5-0.8 for hidden units, i.e. drop 0.2-0.5; 0.8 for inputs). Below it
# the check measures nothing, so an ordinary 0.1-0.5 model pays no extra forwards.
P_HIGH = 0.5
# The model must have learned first: the clean loss at the last measured step is at most this share of its start
# (a model at init has no gap to read; a loss that fell by under 20 % has learned too little to judge).
LEARNED = 0.8
# With dropout on, at most this share of the learned loss decrease survives: the noise erases the rest. Measured in
# the overfit run (dropout modules off while it trains): one 0.6 dropout on a 512-unit layer keeps ~95 %
# (tests/test_detect_dropout.py, evals/cases/healthy-mlp-wide-dropout); three stacked 0.3/0.6/0.6 on 64-unit layers
# 39 % (a warning); 0.75 stacked over an MLP or a transformer's layers keeps nothing (the loss with dropout on is
# above its start). Warning under WARN_KEPT, error under ERROR_KEPT, at every late measurement.
WARN_KEPT = 0.5
ERROR_KEPT = 0.25
# Masks averaged for the noisy loss at each measurement (one mask's loss is one draw).
NOISY_SAMPLES = 3
# Outputs of the replay within this relative distance of the script's own are the same forward (float32 sums in
# another order differ by ~1e-6 relative; a missing argument or another batch by far more).
SAME_REL = 1e-4
# Measurements at most, and the step where the late ones may start (a fraction of the probe's steps).
MAX_MEASURES = 5
LATE_FRACTION = 0.5
# Parameters of the model at most: every measurement costs 2 + NOISY_SAMPLES forwards.
MAX_PARAMS = 50_000_000

DROPOUT_FNS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")


def detect(ev: dict[str, Any]) -> list:
    recs = [r for r in (ev.get("records") or {}).get("dropgap", []) if "clean" in r]
    if len(recs) < 2 or recs[0]["step"] != 0:
        return []
    first, late = recs[0], recs[1:]
    start = first["clean"]
    last = late[-1]
    if not all(math.isfinite(x) for r in recs for x in (r["clean"], r["noisy"])) or start <= 0:
        return []
    learned = start - last["clean"]
    if last["clean"] > LEARNED * start or learned <= 0:
        return []
    kept = [(start - r["noisy"]) / (start - r["clean"]) for r in late if start - r["clean"] > 0]
    if not kept:
        return []
    kept_last = kept[-1]
    kept_max = max(kept)
    if kept_max >= WARN_KEPT:
        return []
    p_max = max(r["p_max"] for r in recs)
    error = kept_max < ERROR_KEPT
    return [finding(
        "dropout-too-high", "error" if error else "warning", 0.85 if error else 0.6,
        f"Dropout erases most of what the model learned: on the batch the script trains on, the loss with every "
        f"dropout off fell from {start:.4g} to {last['clean']:.4g} by step {last['step']}, but with the script's "
        f"dropout on it is {last['noisy']:.4g} ({_kept(kept_last, kept_max)}). The script drops up to "
        f"p = {p_max:.2g} ({last['calls']} dropout call(s) per forward), above the 0.2-0.5 that works for hidden "
        "units: the gradient the optimizer follows is mostly noise. Lower p (0.1-0.3 in transformer blocks, at most "
        "0.5 in wide MLP layers).",
        clean_start=start, clean_last=last["clean"], noisy_last=last["noisy"], kept_last=round(kept_last, 4),
        kept_max=round(kept_max, 4), p_max=p_max, dropout_calls=last["calls"], step=last["step"],
        steps=[r["step"] for r in recs])]


def _kept(last: float, best: float) -> str:
    if best <= 0:
        return "none of the decrease survives, at any measured step"
    now = "none" if last <= 0 else f"only {last:.0%}"
    return f"{now} of the decrease survives; at most {best:.0%} at any measured step"


# ---------------------------------------------------------------- recording (in the probe's child)
def _rel(a: Any, b: Any) -> float:
    return float((a.float() - b.float()).abs().max() / a.float().abs().max().clamp_min(1e-12))


class Recording(Check):
    """Dropout rates from the calls; at a few training forwards, the loss with dropout off and on (`dropgap`)."""

    id = "dropout-too-high"
    forward_scope = "roots"

    def __init__(self) -> None:
        self.off = False  # inside the clean forward: every dropout is the identity
        self.busy = False  # inside a measurement: its own forwards are not the script's
        self.p_max = 0.0
        self.calls = 0  # dropout calls with p > 0 since the count was last reset
        self.rng: Any = None  # the CPU RNG state before the current top-level forward
        # (module, args, output, rng state before, step) of this step's training forwards (another
        # check may run the model again inside the step: the loss input says which forward is the script's)
        self.pending: list[Any] = []
        self.measured: list[int] = []

    def child_install(self, core: Any) -> None:
        import torch.nn.functional as F

        owner = self
        for name in DROPOUT_FNS:
            orig = getattr(F, name, None)
            if orig is None:
                continue

            def make(fn: Any) -> Any:
                def dropout(input: Any, p: float = 0.5, training: bool = True, *a: Any, **k: Any) -> Any:  # noqa: A002
                    if owner.off and training:
                        return input
                    if training:
                        owner._seen(p)
                    return fn(input, p, training, *a, **k)

                dropout.__wrapped__ = fn  # type: ignore[attr-defined]
                return dropout

            setattr(F, name, make(orig))
        sdpa = getattr(F, "scaled_dot_product_attention", None)
        if sdpa is not None:
            def attention(*a: Any, **k: Any) -> Any:
                p = k.get("dropout_p", a[4] if len(a) > 4 else 0.0)
                if owner.off and p:
                    if len(a) > 4:
                        a = (*a[:4], 0.0, *a[5:])
                    else:
                        k = {**k, "dropout_p": 0.0}
                elif p:
                    owner._seen(p)
                return sdpa(*a, **k)

            attention.__wrapped__ = sdpa  # type: ignore[attr-defined]
            F.scaled_dot_product_attention = attention

    def _seen(self, p: Any) -> None:
        try:
            p = float(p)
        except (TypeError, ValueError):
            return
        if p > 0:
            self.calls += 1
            if not self.busy:
                self.p_max = max(self.p_max, p)

    def _step_due(self, core: Any) -> bool:
        """Whether this optimizer step is one to measure: the first, then a few spread over the late part."""
        step = core.n_steps
        if self.busy or len(self.measured) >= MAX_MEASURES or step in self.measured:
            return False
        if not self.measured:
            return step == 0
        late = max(1, int(core.max_steps * LATE_FRACTION))
        every = max(1, (core.max_steps - late) // (MAX_MEASURES - 1))
        return step >= late and (step - late) % every == 0

    def root_forward(self, core: Any, module: Any) -> None:
        import torch

        if self.busy:
            return
        self.rng = torch.get_rng_state() if module.training and self._step_due(core) else None

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        import torch

        if core.depth != 0 or self.busy:
            return
        self.pending = [p for p in self.pending if p[4] == core.n_steps][-3:]
        if self.rng is None or self.p_max <= P_HIGH or not module.training or not args \
                or not isinstance(out, torch.Tensor) or not out.requires_grad or out.is_cuda \
                or type(module).__name__ == "OptimizedModule":  # a torch.compile'd model is left alone
            return
        if sum(p.numel() for p in module.parameters()) > MAX_PARAMS:
            return
        self.pending.append((module, args, out, self.rng, core.n_steps))

    def backward_pre(self, core: Any, loss: Any) -> None:
        pend, self.pending = self.pending, []
        call = core.last_loss_call
        if not pend or call is None or not self._step_due(core):
            return
        fn, inp, target, kwargs = call
        # the loss must be taken on the model's output as it is (or a view of it), not a slice or a transform
        pend = [p for p in pend if p[4] == core.n_steps and hasattr(inp, "data_ptr") and inp.numel() == p[2].numel()
                and inp.data_ptr() == p[2].data_ptr()]
        if not pend:
            return
        module, args, out, rng, step = pend[-1]
        self.measured.append(step)
        self.busy = True
        try:
            self._measure(core, fn, module, args, out, rng, inp, target, kwargs or {}, step)
        except Exception as e:  # noqa: BLE001 - evidence must never break the user's run
            core.emit("dropgap", step=step, error=repr(e)[:300])
        finally:
            self.busy = False
            self.off = False

    def _measure(self, core: Any, fn: str, module: Any, args: Any, out: Any, rng: Any, inp: Any, target: Any,
                 kwargs: dict[str, Any], step: int) -> None:
        import torch
        import torch.nn.functional as F
        from torch.nn.modules import module as module_mod

        loss_fn = getattr(F, fn)
        loss_fn = getattr(loss_fn, "__wrapped__", loss_fn)  # the real loss, not the probe's recording wrapper
        hooks = [module_mod._global_forward_pre_hooks, module_mod._global_forward_hooks]
        saved_hooks = [dict(h) for h in hooks]
        buffers = [(b, b.detach().clone()) for b in module.buffers()]
        # the overfit run makes dropout modules the identity through a global hook (core.fwd_post), after they ran
        # (and drew their random numbers): the replay runs without the global hooks, so it does the same per module
        drop_modules = [m for m in module.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]

        def run() -> Any:
            try:
                return module(*args)
            finally:
                for b, v in buffers:  # BatchNorm statistics, spectral-norm vectors: as they were
                    b.copy_(v)

        def loss_of(o: Any) -> float:
            return float(loss_fn(o.reshape(inp.shape), target, **kwargs))

        try:
            for h in hooks:
                h.clear()
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.set_rng_state(rng)
                handles = [m.register_forward_hook(lambda _m, a, o: a[0] if a else o) for m in drop_modules
                           if core.mode == "overfit" and m.training]
                try:
                    replay = run()
                finally:
                    for h in handles:
                        h.remove()
                if not isinstance(replay, torch.Tensor) or replay.shape != out.shape \
                        or _rel(out.detach(), replay) >= SAME_REL:
                    core.emit("dropgap", step=step, replay_differs=True)
                    return
                self.off = True
                clean = loss_of(run())
                self.off = False
                self.calls = 0
                noisy = [loss_of(run()) for _ in range(NOISY_SAMPLES)]
                calls = self.calls // NOISY_SAMPLES  # dropout calls in one forward of the model
        finally:
            for h, s in zip(hooks, saved_hooks, strict=True):
                h.update(s)
        core.emit("dropgap", step=step, clean=clean, noisy=sum(noisy) / len(noisy), noisy_draws=noisy,
                  p_max=self.p_max, calls=calls, mode=core.mode, fn=fn)
