"""wrong-train-eval-mode: optimizer steps taken while the model (with dropout/BatchNorm) is in eval mode, or
evaluation passes run while it is in training mode.

- Training in eval mode: the harness records, at every optimizer step, each model's training flag, how
  many dropout/BatchNorm layers it has, and whether an optimizer trains any of its parameters (a frozen
  backbone called on its own is meant to sit in eval mode).
- Evaluating in train mode: the harness counts the top-level forwards, with autograd off, of a model an
  optimizer trains (evaluation passes), per interval between optimizer steps, with the dropout layers
  (p > 0) and the BatchNorm layers (tracking running statistics) that ran in training mode, and on a few of
  them how far BatchNorm's running means moved (evidence.evalfwd).
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import Check, _finite, _tolist
from traintriage.probe.detectors._common import finding

# Evaluation passes in training mode must sit in at most this share of the intervals between optimizer steps.
# Validation runs once per epoch or every N steps, so it occupies few intervals; a no-grad forward in every
# interval (a GAN generator sampling fakes under no_grad, a per-step training metric, a whole training forward
# wrapped in no_grad by mistake: loss-detached's business) is part of the training step, not an evaluation.
EVAL_INTERVAL_SHARE = 0.5
# Relative change of a BatchNorm running mean across one evaluation pass above which the pass measurably
# rewrote the statistics (default momentum 0.1 moves them ~10 % of the way to each batch's statistics,
# torch.nn.BatchNorm1d docs); below it the layer's statistics were effectively untouched.
BN_CHANGE = 1e-4


def _trained_in_eval(ev: dict[str, Any]) -> list:
    steps = ev.get("steps", [])
    if not steps:
        return []
    def wrong(m: dict[str, Any]) -> bool:  # a model the optimizer trains (older evidence: no flag) in eval mode
        return not m.get("training") and m.get("mode_dependent", 0) > 0 and m.get("trained", True)

    bad = [s for s in steps if any(wrong(m) for m in s.get("modes", []))]
    if not bad or len(bad) < max(1, len(steps) // 2):
        return []
    m = next(m for m in bad[0]["modes"] if wrong(m))
    return [finding("wrong-train-eval-mode", "error", 0.85,
                    f"{len(bad)}/{len(steps)} optimizer steps ran with {m['root']} in eval mode; its "
                    f"{m['mode_dependent']} dropout/BatchNorm layer(s) behave as at inference (call model.train() "
                    "before the training loop, and again after each evaluation).",
                    steps_in_eval=len(bad), steps=len(steps), module=m["root"],
                    mode_dependent_layers=m["mode_dependent"],
                    train_calls=(ev.get("end") or {}).get("train_calls"))]


def _evaluated_in_train(ev: dict[str, Any]) -> list:
    n_steps = len(ev.get("steps", []))
    ivs = [r for r in ev.get("evalfwd", []) or [] if r.get("n_train_mode", 0) > 0]
    if n_steps < 1 or not ivs or len(ivs) > EVAL_INTERVAL_SHARE * n_steps:
        return []
    passes = sum(r["n_train_mode"] for r in ivs)
    drop = max(r.get("dropout_active", 0) for r in ivs)
    bn = max(r.get("bn_updating", 0) - r.get("bn_cumulative", 0) for r in ivs)
    change = max(r.get("bn_change") or 0.0 for r in ivs)
    bn_rewritten = bn > 0 and change > BN_CHANGE
    if not drop and not bn_rewritten:
        return []  # only cumulative-average BatchNorm (a deliberate re-calibration pass) or nothing measurable
    what = []
    if drop:
        what.append(f"{drop} dropout layer(s) stayed on")
    if bn_rewritten:
        what.append(f"{bn} BatchNorm layer(s) normalised each batch by its own statistics and rewrote their running "
                    f"statistics (running mean moved up to {change:.2g} relative per pass)")
    return [finding("wrong-train-eval-mode", "error" if bn_rewritten else "warning", 0.8 if bn_rewritten else 0.6,
                    f"{passes} evaluation pass(es) (forwards under no_grad between optimizer steps, in "
                    f"{len(ivs)}/{n_steps} step intervals) ran {ivs[0].get('root') or 'the model'} in training mode: "
                    f"{'; '.join(what)}. Call model.eval() before evaluating and model.train() after.",
                    eval_passes_in_train_mode=passes, intervals=len(ivs), steps=n_steps,
                    first_after_step=ivs[0].get("step"), module=ivs[0].get("root"), dropout_active=drop,
                    bn_updating=bn, max_bn_change=change,
                    eval_passes_in_eval_mode=sum(r.get("n_eval_mode", 0) for r in ev.get("evalfwd", []) or []))]


def detect(ev: dict[str, Any]) -> list:
    return _trained_in_eval(ev) or _evaluated_in_train(ev)


# ---------------------------------------------------------------- recording (in the probe's child)
# Evaluation passes (forwards of a trained model with autograd off) in training mode: the BatchNorm running
# statistics are compared before/after on this many such passes per interval between optimizer steps, over at
# most this many BatchNorm layers each (one clone and one device sync per sampled pass; the rest are counted).
EVAL_FWD_SAMPLED = 4
EVAL_FWD_BN = 8


def _new_interval() -> dict[str, Any]:
    """Counters of the evaluation passes between two optimizer steps (see Recording.root_forward)."""
    return {"n": 0, "n_eval_mode": 0, "n_train_mode": 0, "root": None, "dropout_active": 0, "bn_updating": 0,
            "bn_cumulative": 0, "bn_change": 0.0, "sampled": 0}


class Recording(Check):
    """Evaluation passes (top-level forwards, autograd off, of a model an optimizer trains) counted per interval
    between optimizer steps, with the dropout/BatchNorm layers they ran in training mode (`evalfwd`). The
    training-mode half (each model's flag at every step) is in the core's step record (`modes`)."""

    id = "wrong-train-eval-mode"
    forward_scope = "roots"

    def __init__(self) -> None:
        self.roots: dict[int, dict[str, Any]] = {}  # root id -> trained?, dropout/BN layers (evaluation passes)
        self.interval: dict[str, Any] = _new_interval()
        self.pending: Any = None  # (root id, [(bn, running_mean before)]) of a sampled evaluation pass

    def root_forward(self, core: Any, module: Any) -> None:
        if core.opts:
            self._eval_forward(core, module)

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        if self.pending is not None and core.depth == 0 and self.pending[0] == id(module):
            self._done()

    def optimizer_added(self, core: Any, opt: Any) -> None:
        self.roots = {}  # which roots are trained may have changed

    def primary_step(self, core: Any) -> None:
        self._interval_end(core)

    def finish(self, core: Any) -> None:
        self._interval_end(core, trailing=True)

    def _eval_forward(self, core: Any, module: Any) -> None:
        """A top-level forward with autograd off (an evaluation pass) of a model an optimizer trains: count it
        per interval between optimizer steps, with the dropout/BatchNorm layers it ran in training mode."""
        import torch
        import torch.nn as nn

        if torch.is_grad_enabled():
            return
        info = self.roots.get(id(module))
        if info is None or info["n_opts"] != len(core.opts):
            held = core._held()
            info = {"n_opts": len(core.opts),
                    "trained": any(p.requires_grad and id(p) in held for p in module.parameters()),
                    "layers": [s for s in module.modules() if isinstance(s, (nn.modules.dropout._DropoutNd,
                                                                             nn.modules.batchnorm._BatchNorm))]}
            self.roots[id(module)] = info
        if not info["trained"] or not info["layers"]:
            return
        drop = [s for s in info["layers"] if isinstance(s, nn.modules.dropout._DropoutNd) and s.training
                and float(getattr(s, "p", 0.0) or 0.0) > 0]
        bn = [s for s in info["layers"] if isinstance(s, nn.modules.batchnorm._BatchNorm) and s.training
              and s.track_running_stats and s.running_mean is not None]
        iv = self.interval
        iv["n"] += 1
        if not drop and not bn:
            iv["n_eval_mode"] += 1
            return
        iv["n_train_mode"] += 1
        iv["root"] = iv["root"] or type(module).__name__
        iv["dropout_active"] = max(iv["dropout_active"], len(drop))
        iv["bn_updating"] = max(iv["bn_updating"], len(bn))
        iv["bn_cumulative"] = max(iv["bn_cumulative"], sum(1 for b in bn if b.momentum is None))
        if bn and iv["sampled"] < EVAL_FWD_SAMPLED:
            iv["sampled"] += 1
            self.pending = (id(module), [(b, b.running_mean.detach().clone()) for b in bn[:EVAL_FWD_BN]])

    def _done(self) -> None:
        """After a sampled evaluation pass: how far it moved the BatchNorm running means (relative)."""
        import torch

        _, pairs = self.pending
        self.pending = None
        with torch.no_grad():
            rel = [(b.running_mean.detach().float() - s.float()).norm() / (s.float().norm() + 1e-8) for b, s in pairs]
            vals = _tolist(rel)
        if vals:
            self.interval["bn_change"] = max(self.interval["bn_change"], max(_finite(v) or 0.0 for v in vals))

    def _interval_end(self, core: Any, trailing: bool = False) -> None:
        iv = self.interval
        if iv["n"]:
            core.emit("evalfwd", step=core.n_steps, trailing=trailing,
                      **{k: v for k, v in iv.items() if k != "sampled"})
        self.interval = _new_interval()
        self.pending = None
