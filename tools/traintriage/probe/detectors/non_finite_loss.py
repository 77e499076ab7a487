"""non-finite-loss: the loss (or the gradient) becomes NaN or inf."""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.detectors.lr_too_high import REL_UPDATE_HIGH


def detect(ev: dict[str, Any]) -> list:
    raw = ev.get("losses", [])
    bad = [i for i, x in enumerate(raw) if x is None or (isinstance(x, float) and not math.isfinite(x))]
    gbad = [s["step"] for s in ev.get("steps", []) if s.get("grad_norm") is None and s.get("n_backward")]
    calls_bad = [c for c in ev.get("loss_calls", []) if "value" in c and c["value"] is None]
    if not bad and not gbad and not calls_bad:
        return []
    first = bad[0] if bad else (gbad[0] if gbad else calls_bad[0].get("step"))
    # NaN after a run of huge updates is the LR's doing (lr-too-high ranks first); NaN at step 0 is the
    # loss or the data (log(0), 0/0, a NaN in the inputs).
    steps = ev.get("steps", [])
    prior = [s.get("rel_update") or 0 for s in steps[: max(0, first)]]
    lr_driven = bool(prior) and max(prior) > REL_UPDATE_HIGH
    return [finding("non-finite-loss", "error", 0.6 if lr_driven else 0.9,
                    f"The loss/gradient is NaN or inf from step {first} on"
                    + (" after very large updates." if lr_driven else
                       ": check log/sqrt/division of values that can reach 0 and NaNs in the data."),
                    first_bad_step=first, bad_loss_steps=len(bad), bad_grad_steps=len(gbad),
                    max_rel_update_before=round(max(prior), 6) if prior else None)]
