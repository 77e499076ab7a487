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
