"""heads-split-view-without-transpose: a 4-d view/reshape head split used in attention with no transpose (the bug,
both forms: (B, T, H, d) never transposed and (B, H, T, d) straight from (B, T, C)), the fix, and look-alikes that
reorder the axes another way (permute, a separate transpose statement, einsum, a 3-d view)."""

from __future__ import annotations

import textwrap

import pytest
from traintriage.lint import lint_source

ATTN = """
import torch, torch.nn.functional as F
def attend(x, qkv, B, T, C, H):
    q, k, v = qkv(x).split(C, -1)
{split}
    att = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    return (att @ v).transpose(1, 2).reshape(B, T, C)
"""
SDPA = """
import torch, torch.nn.functional as F
def attend(x, wq, wk, wv, B, T, C, H):
    q = wq(x).view(B, T, H, C // H)
    k = wk(x).view(B, T, H, C // H)
    v = wv(x).view(B, T, H, C // H)
{extra}
    return F.scaled_dot_product_attention(q, k, v)
"""


def _ids(src):
    return [f for f in lint_source(textwrap.dedent(src), "m.py") if f.id == "heads-split-without-transpose"]


@pytest.mark.parametrize(("split", "flagged"), [
    ("    q, k, v = (t.view(B, T, H, C // H) for t in (q, k, v))", True),
    ("    q, k, v = (t.reshape(B, H, T, C // H) for t in (q, k, v))", True),
    ("    q = q.view(B, H, T, C // H)\n    k = k.view(B, H, T, C // H)\n    v = v.view(B, H, T, C // H)", True),
    ("    q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))", False),
    ("    q, k, v = (t.view(B, T, H, C // H).permute(0, 2, 1, 3) for t in (q, k, v))", False),
    ("    q = q.view(B, T, H, C // H)\n    q = q.transpose(1, 2)\n    k = k.view(B, T, H, C // H).transpose(1, 2)\n"
     "    v = v.view(B, T, H, C // H).transpose(1, 2)", False),
    ("    q, k, v = (t.view(B * H, T, C // H) for t in (q, k, v))", False),  # 3-d: not this split
])
def test_head_split_forms(split, flagged):
    src = textwrap.dedent(ATTN.format(split=split))
    found = _ids(src)
    assert bool(found) == flagged, found
    if flagged:
        line = next(i for i, ln in enumerate(src.splitlines(), 1) if ln.strip().startswith("att ="))
        assert len(found) == 1 and found[0].severity == "warning" and found[0].where == f"m.py:{line}"


def test_sdpa_without_transpose_and_with():
    assert _ids(SDPA.format(extra=""))
    assert not _ids(SDPA.format(extra="    q, k, v = (t.transpose(1, 2) for t in (q, k, v))"))


def test_einsum_names_its_axes():
    src = """
    import torch
    def attend(q, k, B, T, H, d):
        q = q.view(B, T, H, d)
        k = k.view(B, T, H, d)
        return torch.einsum("bthd,bshd->bhts", q, k)
    """
    assert not _ids(src)


def test_a_transposed_source_may_be_viewed_to_heads():
    src = """
    import torch
    def attend(x, B, T, H, d):
        q = x.transpose(1, 2).contiguous().view(B, H, d, T)
        return q @ q.transpose(-2, -1)
    """
    assert not _ids(src)
