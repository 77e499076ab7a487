"""padding-in-loss: padded positions are counted in the loss.

Two readings, the first preferred: (1) the model's input tokens show where the padding is (a run of one id
at the end of rows of different lengths) and the targets at those positions are real, counted classes;
(2) with no token input to read, one target id dominates a token-sized vocabulary and is not ignored.
When neither fires, (3): the loss was given its own ignore_index (not PyTorch's -100) and no target of any
observed call holds it: the mask the author meant (prompt tokens of a sort/instruction task, padding) is never
applied, so the positions it should leave out are scored. A warning: a batch may simply hold nothing to mask.
"""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.check import LOSS_CALLS_SAMPLED, Check
from traintriage.probe.detectors._common import calls, finding

# (1) From the input tokens. The catalogue's cause: with a share f of pad targets the loss tends to
# (1 - f) x the real loss and the gradient on real tokens is diluted by the same factor. Below ~10 % the
# dilution is within batch-to-batch noise; above it the model visibly learns "pad follows pad".
PAD_MIN_FRAC = 0.1
# The padded positions' targets are one value (the pad id, or a "no tag" class) at least this often, and
# at most this share of them is ignored by the loss: a healthy script sets them all to ignore_index.
PAD_TARGET_CONST = 0.9
PAD_MAX_IGNORED = 0.5

# (2) Without token inputs: with a vocabulary of this many classes or more we treat targets as tokens.
# Zipf's law puts the most frequent real token (e.g. "the") near 5-7 % of running text, so one id above
# 30 % is padding.
MIN_VOCAB = 16
PAD_DOMINANCE = 0.3
# ... and a share is evidence only over enough targets: with the top real token at ~7 % (Zipf), reaching 30 % of
# 32 targets by chance is ~5 binomial standard deviations away, while one target (a per-time-step call of a
# seq2seq loop with batch 1) is always "100 %" of itself.
PAD_MIN_TARGETS = 32


def _from_inputs(c: dict[str, Any]) -> list:
    pad = c.get("pad")
    if not pad or pad.get("pad_frac", 0) < PAD_MIN_FRAC or pad.get("ignored_frac", 1) > PAD_MAX_IGNORED:
        return []
    if pad.get("target_at_pad_frac", 0) < PAD_TARGET_CONST:
        return []
    tv = pad["target_at_pad"]
    return [finding("padding-in-loss", "error", 0.85,
                    f"{pad['pad_frac']:.0%} of the model's input positions are {pad['side']} padding (token id "
                    f"{pad['pad_id']}, {pad['rows_padded']}/{pad['rows']} rows padded), and the {c['fn']} target "
                    f"there is class {tv} in {pad['target_at_pad_frac']:.0%} of them, counted by the loss "
                    f"(ignore_index={c.get('ignore_index')}): the model is trained to predict padding and the real "
                    f"tokens' gradient is diluted. Set the padded targets to the loss's ignore_index (or pass "
                    f"ignore_index={tv}).",
                    pad_id=pad["pad_id"], pad_fraction=round(pad["pad_frac"], 4), target_at_pad=tv,
                    ignored_fraction=round(pad.get("ignored_frac", 0.0), 4), ignore_index=c.get("ignore_index"),
                    num_classes=c.get("num_classes"))]


def _from_targets(c: dict[str, Any]) -> list:
    if c.get("num_classes", 0) < MIN_VOCAB or c.get("target_float"):
        return []
    top, frac = c.get("target_top_value"), c.get("target_top_frac", 0)
    if top is None or frac < PAD_DOMINANCE or top == c.get("ignore_index"):
        return []
    if math.prod(c.get("target_shape") or [0]) < PAD_MIN_TARGETS:
        return []
    return [finding("padding-in-loss", "error", 0.8,
                    f"Target id {top} makes up {frac:.0%} of the {c['target_shape']} targets and the loss "
                    f"does not ignore it (ignore_index={c.get('ignore_index')}): the model is rewarded for "
                    f"predicting padding. Pass ignore_index={top} (or mask the padded positions).",
                    pad_id=top, pad_fraction=round(frac, 4), ignore_index=c.get("ignore_index"),
                    num_classes=c.get("num_classes"))]


# (3) PyTorch's default ignore_index (CrossEntropyLoss, NLLLoss): a script that passes another value chose one,
# so it means to mark positions with it.
DEFAULT_IGNORE_INDEX = -100
# ... and "never applied" needs several batches: the loss records of the first calls are always kept
# (probe/check.py LOSS_CALLS_SAMPLED = 3); one batch without padding is common, three in a row of a script that
# masks every sequence's prompt are not.
MASK_MIN_CALLS = 3


def _mask_never_applied(cs: list[dict[str, Any]]) -> list:
    by_ii: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for c in cs:
        ii = c.get("ignore_index")
        if ii is None or ii == DEFAULT_IGNORE_INDEX or c.get("target_float") or c.get("n_targets") is None:
            continue
        by_ii.setdefault((c["fn"], ii), []).append(c)
    for (fn, ii), group in by_ii.items():
        sizes = [math.prod(c.get("target_shape") or [0]) for c in group]  # targets per call
        total = sum(sizes)
        if len(group) < MASK_MIN_CALLS or total == 0 or any(c["n_targets"] != n
                                                             for c, n in zip(group, sizes, strict=True)):
            continue
        lo, hi = min(c.get("target_min", 0) for c in group), max(c.get("target_max", 0) for c in group)
        return [finding("padding-in-loss", "warning", 0.45,
                        f"{fn} is given ignore_index={ii}, but none of the {total} targets of its {len(group)} "
                        f"observed calls is {ii} (targets range {lo}..{hi}): the mask the script means to apply "
                        f"(prompt tokens, padding) never is, so every position is scored, the unpredictable ones "
                        f"too. Set the positions to leave out to {ii} in the labels (e.g. "
                        f"`y[:, :prompt_len - 1] = {ii}`).",
                        ignore_index=ii, calls=len(group), targets=total, ignored=0, target_min=lo, target_max=hi)]
    return []


def detect(ev: dict[str, Any]) -> list:
    cs = calls(ev, "cross_entropy", "nll_loss")
    for c in cs:
        if c.get("pad"):
            return _from_inputs(c)  # the input tokens say where padding is: trust them over frequencies
    for c in cs:
        found = _from_targets(c)
        if found:
            return found
    return _mask_never_applied(cs)


# ---------------------------------------------------------------- recording (in the probe's child)
class Recording(Check):
    """On the first cross-entropy / NLL calls: where the model's input tokens are padded, what does the target
    hold there? Adds `pad` to the `loss` record."""

    id = "padding-in-loss"

    def loss(self, core: Any, fn: str, call: int, inp: Any, target: Any, rec: dict[str, Any]) -> None:
        if core.last_input is None or call >= LOSS_CALLS_SAMPLED or fn not in ("cross_entropy", "nll_loss"):
            return
        try:
            pad = _pad_check(core.last_input, target, rec.get("ignore_index"))
            if pad:
                rec["pad"] = pad
        except Exception as e:  # noqa: BLE001
            rec["pad_error"] = repr(e)


# A few rows may break the pattern (a real token that happens to equal the pad id).
PAD_RUN_ROWS = 0.95


def _pad_check(x: Any, target: Any, ignore_index: Any) -> dict[str, Any] | None:
    """Padding read from the model's own input tokens: where the input is padded, what does the target hold?

    x is the model's input ([batch, time] integer token ids); the target must have one entry per input
    position. Returns the pad id, the padded share of positions and the targets found there.
    """
    import torch

    with torch.no_grad():
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.is_floating_point() or x.dtype == torch.bool:
            return None
        t = target.detach()
        if t.is_floating_point() or t.numel() != x.numel() or x.shape[0] < 2 or x.shape[1] < 2:
            return None
        x = x.detach()
        t = t.reshape(x.shape)
        for side, col in (("right", x[:, -1]), ("left", x[:, 0])):
            ids, counts = torch.unique(col, return_counts=True)
            p = int(ids[int(counts.argmax())])
            mask = x == p
            # right padding: once a row is padded it stays padded (mask never goes 1 -> 0 along time)
            steps = mask[:, 1:].int() - mask[:, :-1].int()
            ok = (steps >= 0).all(1) if side == "right" else (steps <= 0).all(1)
            lengths = mask.sum(1)
            if float(ok.float().mean()) < PAD_RUN_ROWS or torch.unique(lengths).numel() < 2:
                continue  # not a run at one end, or every row padded the same: a fixed token, not padding
            at_pad = t[mask]
            if at_pad.numel() == 0:
                continue
            vals, vcounts = torch.unique(at_pad, return_counts=True)
            top = int(vcounts.argmax())
            ignored = float((at_pad == ignore_index).float().mean()) if ignore_index is not None else 0.0
            return {"pad_id": p, "side": side, "pad_frac": float(mask.float().mean()),
                    "target_at_pad": int(vals[top]), "target_at_pad_frac": float(vcounts[top]) / at_pad.numel(),
                    "ignored_frac": ignored, "rows_padded": int((lengths > 0).sum()), "rows": int(x.shape[0])}
    return None
