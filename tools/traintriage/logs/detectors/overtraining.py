"""overtraining: validation stopped improving many evaluations ago and training went on."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, sym

ID = "overtraining"
SEVERITY = "info"  # usually a stopping problem, not a bug (refs/symptoms.md#overtraining)
# A patience window, as SageMaker Debugger's Overtraining rule uses: at least this many evaluations since the
# best one, and at least this share of all evaluations.
PATIENCE_EVALS, PATIENCE_SHARE = 5, 0.3
# An evaluation within this relative margin of the best counts as "still as good".
TOL = 0.01


def detect(ctx: Context) -> list[Detection]:
    for role, better in (("val_loss", np.argmin), ("val_accuracy", np.argmax)):
        c = ctx.curve(role)
        if c is None:
            continue
        c = c.clean()
        if len(c) < PATIENCE_EVALS + 2:
            continue
        b = int(better(c.values))
        best = float(c.values[b])
        since = len(c) - 1 - b
        worse_by = (c.values[b + 1 :] - best) * (1 if role == "val_loss" else -1)
        if since < PATIENCE_EVALS or since < PATIENCE_SHARE * len(c) or not np.all(worse_by > TOL * abs(best)):
            continue
        ev = {"best": best, "best_step": int(c.steps[b]), "last": float(c.values[-1]), "evals_since_best": since,
              "evals": len(c), "last_step": int(c.steps[-1])}
        msg = (f"{c.name} was best at step {c.steps[b]} ({fmt(best)}); the {since} evaluations since (to step "
               f"{c.steps[-1]}) are all worse, last {fmt(c.values[-1])}")
        return [Detection(sym(ID, c.name, c.steps[b], msg, ev), SEVERITY)]
    return []
