"""attention-mask-inverted: the key-padding mask excludes the real tokens and lets attention reach only the padding.

Measured, not guessed from names. Inside the first forwards (probe/op_window.py) every attention mask is read
where it is applied: `key_padding_mask` of `F.multi_head_attention_forward` (what `nn.MultiheadAttention` and the
`nn.Transformer*` layers call; True or -inf = ignore), the `attn_mask` of `F.scaled_dot_product_attention`
(boolean True = take part, float -inf = ignore) and a hand-written `scores.masked_fill(mask, -inf)`. A mask that
is the same for every query reduces to one row of excluded keys per sequence; it is compared with the model's
own token ids (the top-level input, an integer (batch, seq) tensor):

* padding is the one token value that fills a contiguous run at the end (or start) of the rows;
* a right mask excludes exactly those positions; an inverted one *allows* exactly those positions and excludes
  every real token, so each query's softmax puts all of its probability (100 %) on padding and none on the
  sequence (masked keys get exactly zero weight), whatever the weights are.

The check names the mask only when the allowed keys are all one token value, laid out as padding is (a run
touching one end of each row), and the excluded keys hold at least two other values: a correct mask is the mirror
image and is recorded as such (the healthy control), a causal or per-query mask is not a padding mask and is
skipped.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.op_window import OpWindow

# A float mask entry at or below this excludes its key: -inf, or the large negative numbers code uses instead
# (Hugging Face: torch.finfo(dtype).min; fairseq/-1e9; -1e4 for fp16). exp(-1e4) is 0 in every float format.
EXCLUDE_BELOW = -1e4
# Masks compared per watched forward (each costs a few small reductions on a (batch, seq) tensor).
MAX_MASKS = 8
# At least this many sequences with some padding: one padded row could be a single odd sample.
MIN_PADDED_ROWS = 2


def detect(ev: dict[str, Any]) -> list:
    recs = [r for r in (ev.get("records") or {}).get("attnmask", []) if "match" in r]
    bad = [r for r in recs if r["match"] == "inverted"]
    if not bad:
        return []
    w = bad[0]
    vias = sorted({r["via"] for r in bad})
    return [finding(
        "attention-mask-inverted", "error", 0.9,
        f"The attention mask passed to {', '.join(vias)} lets each query attend only to the padding (token "
        f"{w['pad']}, {w['allowed_frac']:.0%} of the keys, at the {w['side']} of every padded row) and masks out "
        f"every real token: 100% of the attention probability lands on padding. The mask's polarity is inverted "
        f"(key_padding_mask wants True = padding; scaled_dot_product_attention's boolean attn_mask wants True = "
        f"attend).",
        via=vias, pad_token=w["pad"], allowed_frac=w["allowed_frac"], rows=w["rows"],
        fully_masked_rows=w.get("fully_masked_rows", 0), masks_inverted=len(bad), masks_seen=len(recs))]


# ---------------------------------------------------------------- recording (in the probe's child)
def _key_rows(mask: Any, excluded_is_true: bool) -> Any:
    """(batch, keys) bool of excluded keys from a mask applied per (.., query, key), or None when the mask
    differs between queries or heads (causal or per-query masks: not a padding mask)."""
    import torch

    if mask.is_floating_point():
        ex = mask <= EXCLUDE_BELOW
    elif mask.dtype == torch.bool:
        ex = mask if excluded_is_true else ~mask
    else:
        return None
    if ex.dim() == 2:
        return ex
    if ex.dim() < 3:
        return None
    rows = ex.reshape(ex.shape[0], -1, ex.shape[-1])  # (batch, heads * queries, keys)
    if not bool((rows == rows[:, :1]).all()):
        return None
    return rows[:, 0]


def _compare(ex: Any, tokens: Any) -> dict[str, Any] | None:
    """How the excluded keys (batch, seq) line up with the token ids: 'inverted', 'correct' or 'other'."""
    import torch

    if tokens.shape != ex.shape:
        if tokens.dim() == 2 and tokens.t().shape == ex.shape:
            tokens = tokens.t()  # sequence-first input
        else:
            return None
    allowed = ~ex
    out: dict[str, Any] = {"rows": int(ex.shape[0]), "keys": int(ex.shape[1])}
    for match, pad_set, real_set in (("inverted", allowed, ex), ("correct", ex, allowed)):
        pad_vals = torch.unique(tokens[pad_set])
        real_vals = torch.unique(tokens[real_set])
        if pad_vals.numel() != 1 or real_vals.numel() < 2 or bool((real_vals == pad_vals[0]).any()):
            continue
        padded = pad_set.any(1)
        if int(padded.sum()) < MIN_PADDED_ROWS:
            continue
        side = _padding_side(pad_set[padded])
        if side is None:
            continue
        out.update(match=match, pad=int(pad_vals[0]), side=side, allowed_frac=float(allowed.float().mean()),
                   fully_masked_rows=int((~allowed.any(1)).sum()))
        return out
    out["match"] = "other"
    return out


def _padding_side(pad: Any) -> str | None:
    """'end' / 'start' when every row's padding is one run touching that end of the row."""
    import torch

    n = pad.shape[1]
    idx = torch.arange(n, device=pad.device)
    count = pad.sum(1, keepdim=True)
    if bool((pad == (idx >= n - count)).all()):
        return "end"
    if bool((pad == (idx < count)).all()):
        return "start"
    return None


class Recording(OpWindow):
    """Each attention mask applied in the watched forwards, compared with the model's token ids (`attnmask`)."""

    id = "attention-mask-inverted"

    def __init__(self) -> None:
        super().__init__()
        self.masks = 0

    def window_done(self, core: Any) -> None:
        self.masks = 0

    def op(self, core: Any, name: str, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        if self.masks >= MAX_MASKS:
            return
        import torch

        mask, excluded_is_true = None, True
        if name == "multi_head_attention_forward":
            mask = kwargs.get("key_padding_mask")
            if mask is None and len(args) > 14:
                mask = args[14]
            via = "nn.MultiheadAttention"
        elif name == "scaled_dot_product_attention":
            mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
            excluded_is_true, via = False, "F.scaled_dot_product_attention"
        elif name in ("masked_fill", "masked_fill_"):
            value = kwargs.get("value", args[2] if len(args) > 2 else None)
            if not isinstance(value, (int, float)) or value > EXCLUDE_BELOW:
                return
            scores = args[0]
            if not isinstance(scores, torch.Tensor) or scores.dim() < 3:
                return
            mask = kwargs.get("mask", args[1] if len(args) > 1 else None)
            if isinstance(mask, torch.Tensor):
                mask = mask.expand(scores.shape) if mask.dim() <= scores.dim() else None
            via = "masked_fill(scores, mask, -inf)"
        else:
            return
        tokens = core.last_input
        if not isinstance(mask, torch.Tensor) or not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 \
                or tokens.is_floating_point() or tokens.dtype == torch.bool:
            return
        with torch.no_grad():
            ex = _key_rows(mask.detach(), excluded_is_true)
            if ex is None:
                return
            res = _compare(ex, tokens.detach().to(ex.device))
        if res is None:
            return
        self.masks += 1
        core.emit("attnmask", via=via, step=core.n_steps, **res)
