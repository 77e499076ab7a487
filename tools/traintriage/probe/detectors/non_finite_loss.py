"""non-finite-loss: the loss (or the gradient) becomes NaN or inf."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import (
    bad_loss_steps,
    finding,
    first_nonfinite_step,
    instability_before,
)

# Confidence when the steps before the NaN were calm (small updates, no loss spike, no gradient growth): the
# NaN comes from an operation or the data, and this is the first cause (_common.instability_before).
CONF_OPERATION = 0.9
# Confidence when an instability (huge update, loss spike, growing gradient) led into the NaN: the NaN is its
# consequence, and lr-too-high / exploding-gradients, which claim it, rank first.
CONF_AFTER_INSTABILITY = 0.6


def detect(ev: dict[str, Any]) -> list:
    bad = bad_loss_steps(ev)
    gbad = [s["step"] for s in ev.get("steps", []) if s.get("grad_norm") is None and s.get("n_backward")]
    # a NaN loss the script only evaluates (no_grad; the mean over an empty validation split) trains nothing
    calls_bad = [c for c in ev.get("loss_calls", []) if "value" in c and c["value"] is None
                 and c.get("requires_grad", True) and c.get("n_elements", 1) > 0]
    if not bad and not gbad and not calls_bad:
        return []
    first = first_nonfinite_step(ev)
    if first is None:
        first = calls_bad[0].get("step")
    before = instability_before(ev, first)
    driven = before["unstable"]
    return [finding("non-finite-loss", "error", CONF_AFTER_INSTABILITY if driven else CONF_OPERATION,
                    f"The loss/gradient is NaN or inf from step {first} on"
                    + (" after very large updates / a loss spike." if driven else
                       ", and the steps before it were calm (small updates, no loss spike, no growing gradient): "
                       "an operation left its safe range. Check log/sqrt/division of values that can reach 0 "
                       "(log of a softmax or sigmoid output) and NaNs in the data."),
                    first_bad_step=first, bad_loss_steps=len(bad), bad_grad_steps=len(gbad),
                    after_instability=driven, before=before,
                    max_rel_update_before=before.get("max_rel_update"))]
