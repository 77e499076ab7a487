"""nll-without-log-softmax: NLLLoss fed something other than log-probabilities."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding

# log-probabilities are <= 0 and their rows' logsumexp is 0; allow float rounding.
LOGPROB_TOL = 1e-3


def detect(ev: dict[str, Any]) -> list:
    cs = calls(ev, "nll_loss")
    bad = [c for c in cs if (c.get("input_max") or 0) > LOGPROB_TOL or (c.get("logsumexp_absmax") or 0) > 1e-2]
    if not bad or len(bad) < len(cs) / 2:
        return []
    c = bad[0]
    probs = c.get("input_min", -1) >= 0 and (c.get("rowsum_dev") or 1) < 1e-3
    what = "probabilities (softmax, not log_softmax)" if probs else "raw scores (no log_softmax)"
    return [finding("nll-without-log-softmax", "error", 0.9,
                    f"nll_loss received {what}: max {c.get('input_max'):.3g}, |logsumexp| up to "
                    f"{c.get('logsumexp_absmax'):.3g} (log-probabilities have max <= 0 and logsumexp 0). "
                    "NLLLoss just picks -input[target], so the model can lower it without bound. Add "
                    "log_softmax or use cross_entropy on logits.",
                    calls=len(bad), input_max=c.get("input_max"), logsumexp_absmax=c.get("logsumexp_absmax"),
                    looks_like="probabilities" if probs else "scores")]
