"""dead-relu: ReLU units that output zero and pass no gradient.

Two places this is measured:
- hidden layers: units that output zero for every sample of the batch (a ReLU module's output).
- the model's output: a regression loss whose predictions sit at exactly 0 (a ReLU, or relu/clamp(min=0), on
  the last layer) where the target is not 0. A ReLU passes no gradient at 0, so those samples teach nothing,
  and a target below 0 can never be reached. Read at the last sampled step, after training: at init about
  half of a ReLU output is 0 whatever the targets, but a healthy non-negative regression pushes its
  predictions up off 0 within a few steps.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, overfit_failed, share

# SageMaker Debugger's DeadRelu rule flags a layer when more than 50 % of its ReLUs are inactive
# (threshold_layer=50.0).
DEAD_LAYER_FRACTION = 0.5
# Nearly the whole layer dead cuts the gradient path: an error on its own.
DEAD_LAYER_SEVERE = 0.9
# Output clamp: the share of the loss's elements sitting at exactly 0 with a non-zero target, after training.
# SageMaker's DeadRelu counts a unit dead when it is active on < 1 % of inputs; the output unit is shared by
# every sample, so what is counted here is the samples it is dead for. An ordinary output is never exactly 0 (a
# Linear output is 0 with probability 0), and a healthy ReLU-output regression on positive targets lifts its
# predictions off 0 within a few steps (tests/test_detect_dynamics.py: 0 % at step 19); a quarter of the batch
# still passing no gradient is a clamp that does not let go (the seeded case keeps 38 %).
OUTPUT_STUCK_FRACTION = 0.25
# Targets below 0 behind a clamp at 0 can never be reached: from this share on, the loss has a floor the model
# cannot train through, an error; a clamp on non-negative targets that is slow to let go is a warning.
UNREACHABLE_FRACTION = 0.1
REGRESSION_LOSSES = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")


def _hidden(ev: dict[str, Any]) -> list:
    acts = [a for a in ev.get("acts", []) if a.get("act") == "relu" and a.get("dead_frac") is not None]
    if not acts:
        return []
    last = max(a["step"] for a in acts)
    layers = [a for a in acts if a["step"] == last and a["dead_frac"] >= DEAD_LAYER_FRACTION and a.get("units", 0) >= 4]
    if not layers:
        return []
    worst = max(layers, key=lambda a: a["dead_frac"])
    sev = "error" if worst["dead_frac"] >= DEAD_LAYER_SEVERE or overfit_failed(ev) else "warning"
    return [finding("dead-relu", sev, 0.8 if sev == "error" else 0.5,
                    f"{share(worst['dead_frac'])} of the {worst.get('units', '?')} units of the ReLU at "
                    f"'{worst['layer']}' output 0 for every sample (step "
                    f"{last}); dead units pass no gradient. Lower the LR, fix the init/bias, or use LeakyReLU/GELU.",
                    layers={a["layer"]: round(a["dead_frac"], 4) for a in layers}, step=last,
                    threshold=DEAD_LAYER_FRACTION)]


def _output(ev: dict[str, Any]) -> list:
    cs = [c for c in ev.get("loss_calls", []) if c.get("fn") in REGRESSION_LOSSES
          and c.get("zero_pred_nonzero_target_frac") is not None]
    if not cs:
        return []
    last = max(c.get("step", 0) for c in cs)
    if last == 0:
        return []  # only the init was seen: half of any ReLU output is 0 there
    cs = [c for c in cs if c.get("step", 0) == last]
    c = max(cs, key=lambda c: c["zero_pred_nonzero_target_frac"])
    stuck = c["zero_pred_nonzero_target_frac"]
    # clamped: no prediction below 0 at all, and a real share of them exactly at 0
    if stuck < OUTPUT_STUCK_FRACTION or c.get("input_min") is None or c["input_min"] < 0:
        return []
    neg = c.get("target_neg_frac") or 0.0
    sev = "error" if neg >= UNREACHABLE_FRACTION else "warning"
    return [finding("dead-relu", sev, 0.8 if sev == "error" else 0.5,
                    f"The model's output is clamped at 0 (no prediction below 0) and {stuck:.0%} of the "
                    f"{c['fn']} elements sit at exactly 0 with a non-zero target at step {last}"
                    + (f"; {neg:.0%} of the targets are negative and can never be reached" if neg > 0 else "")
                    + ": a ReLU (or clamp) on the output passes no gradient there. Remove the final ReLU (regress "
                    "the raw Linear output) or use softplus if the target must be positive.",
                    output_stuck_frac=round(stuck, 4), output_zero_frac=round(c.get("input_zero_frac") or 0.0, 4),
                    target_neg_frac=round(neg, 4), pred_min=c["input_min"], loss_fn=c["fn"], step=last,
                    threshold=OUTPUT_STUCK_FRACTION, unreachable_threshold=UNREACHABLE_FRACTION)]


def detect(ev: dict[str, Any]) -> list:
    if (ev.get("overfit") or {}).get("nonfinite"):
        return []  # NaN activations compare as "not > 0": that is non-finite-loss's finding, not dead units
    out = _hidden(ev)
    out_layer = _output(ev)
    if out_layer and (not out or out_layer[0].severity == "error" or out[0].severity != "error"):
        return out_layer
    return out
