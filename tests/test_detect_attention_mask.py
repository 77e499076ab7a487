"""attention-mask-inverted, measured on real runs: an encoder whose key_padding_mask marks the real tokens (the
bug), the same with the padding marked (the fix), a look-alike that builds `tokens != PAD` for
scaled_dot_product_attention (right: True = attend there), and hand-written masked_fill attention both ways."""

from __future__ import annotations

import textwrap

import pytest
from traintriage.probe.detectors import attention_mask_inverted as det

HEAD = """
import torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
PAD, T, D = 0, 12, 16
lengths = torch.randint(3, T, (32,))
x = torch.randint(1, 9, (32, T))
x[torch.arange(T)[None, :] >= lengths[:, None]] = PAD
y = (x == 1).sum(1).clamp(max=1)
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(9, D)
        self.att = nn.MultiheadAttention(D, 2, batch_first=True)
        self.qkv = nn.Linear(D, 3 * D)
        self.head = nn.Linear(D, 2)
    def forward(self, tok):
        h = self.emb(tok)
{body}
        return self.head(h.mean(1))
model = M()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(4):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
"""
MHA = "        h = self.att(h, h, h, key_padding_mask={mask}, need_weights=False)[0]"
SDPA = """        q, k, v = self.qkv(h).split(D, -1)
        h = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], attn_mask={mask})[:, 0]"""
MANUAL = """        q, k, v = self.qkv(h).split(D, -1)
        s = (q @ k.transpose(-2, -1)) / D ** 0.5
        s = s.masked_fill({mask}, float('-inf'))
        h = torch.softmax(s, dim=-1) @ v"""


def _probe(tmp_path, body, mask):
    from traintriage.probe.runner import probe_with_records

    s = tmp_path / "train.py"
    s.write_text(textwrap.dedent(HEAD.format(body=body.format(mask=mask))))
    rep, records = probe_with_records(s, mode="observe", steps=3, timeout=120)
    return {f.id for f in rep.findings}, [r for r in records if r.get("kind") == "attnmask"]


@pytest.mark.slow
@pytest.mark.parametrize(("body", "mask", "match"), [
    (MHA, "tok != PAD", "inverted"),  # the bug: key_padding_mask wants True = padding
    (MHA, "tok == PAD", "correct"),  # its fix
    (SDPA, "(tok != PAD)[:, None, None, :]", "correct"),  # the look-alike: SDPA's boolean mask wants True = attend
    (SDPA, "(tok == PAD)[:, None, None, :]", "inverted"),
    (MANUAL, "(tok != PAD)[:, None, :]", "inverted"),  # masked_fill(mask, -inf) fills where mask is True
    (MANUAL, "(tok == PAD)[:, None, :]", "correct"),
])
def test_mask_polarity_is_read_against_the_tokens(tmp_path, body, mask, match):
    ids, recs = _probe(tmp_path, body, mask)
    assert recs and {r["match"] for r in recs} == {match}
    assert ("attention-mask-inverted" in ids) == (match == "inverted")


def test_compare_needs_the_padding_layout():
    import torch

    tok = torch.tensor([[5, 3, 7, 0, 0], [4, 4, 2, 6, 0], [8, 1, 0, 0, 0]])
    pad = tok == 0
    assert det._compare(pad, tok)["match"] == "correct"
    inv = det._compare(~pad, tok)
    assert inv["match"] == "inverted" and inv["pad"] == 0 and inv["side"] == "end"
    assert det._compare(~pad.t(), tok.t()) is None or det._compare(~pad, tok.t())["match"] == "inverted"
    # a causal-style or random exclusion is not a padding mask either way
    odd = torch.tensor([[False, True, False, True, False]] * 3)
    assert det._compare(odd, tok)["match"] == "other"
    # one padded row is not enough
    assert det._compare(~pad[:1], tok[:1])["match"] == "other"


def test_per_query_masks_are_skipped():
    import torch

    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)[None, None].expand(2, 1, 4, 4)
    assert det._key_rows(causal, True) is None
    padding = torch.tensor([[False, False, True, True]])[:, None, None, :].expand(1, 2, 4, 4)
    assert det._key_rows(padding, True).tolist() == [[False, False, True, True]]
    assert det._key_rows(torch.zeros(1, 1, 1, 4).masked_fill(padding[:, :1, :1], float("-inf")), True).tolist() \
        == [[False, False, True, True]]
