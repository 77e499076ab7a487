"""The structure-fault mutation operators plant their bug in the eval cases' fixed scripts (the hosts) as the broken
scripts have it, and leave right look-alikes alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from traintriage.mutate import by_id, mutate_source

CASES = Path(__file__).resolve().parent.parent / "evals" / "cases"


def _host(case: str, script: str = "fixed.py") -> str:
    return (CASES / case / script).read_text(encoding="utf-8")


@pytest.mark.parametrize(("op", "case", "planted"), [
    ("invert-padding-mask", "attention-mask-inverted-encoder-cls", "pad_mask = tokens != PAD"),
    ("softmax-over-queries", "attention-softmax-wrong-axis-masked", "torch.softmax(scores, dim=-2)"),
    ("drop-positional-add", "positional-encoding-unused-order-task", "        _tt_pe = self.pos(h)\n        h = self.encoder(h)"),
    ("heads-no-transpose", "heads-split-without-transpose-cls", "t.reshape(B, H, T, D // H)"),
    ("high-dropout", "dropout-too-high-transformer-cls", "nn.TransformerEncoderLayer(D, 4, 64, dropout=0.75"),
])
def test_operator_plants_the_broken_cases_bug(op, case, planted):
    mutant = mutate_source(_host(case), by_id(op))
    assert mutant is not None and planted in mutant, mutant
    ast.parse(mutant)


@pytest.mark.parametrize(("op", "case"), [
    ("invert-padding-mask", "healthy-set-transformer-counts"),  # no padding mask
    ("softmax-over-queries", "healthy-sdpa-padding-mask"),  # library attention, no hand-written scores
    ("drop-positional-add", "healthy-set-transformer-counts"),  # no positions at all
    ("heads-no-transpose", "healthy-set-transformer-counts"),  # nn.TransformerEncoder splits its own heads
    ("high-dropout", "positional-encoding-unused-order-task"),  # dropout=0.0: switched off on purpose
])
def test_operator_skips_hosts_without_its_pattern(op, case):
    assert mutate_source(_host(case, "train.py"), by_id(op)) is None


def test_padding_mask_flipped_where_it_is_passed():
    src = "h = enc(x, src_key_padding_mask=tokens.eq(PAD) | (tokens == SEP))\n"
    assert "tokens != SEP" in mutate_source(src, by_id("invert-padding-mask"))
    sdpa = "a = F.scaled_dot_product_attention(q, k, v, attn_mask=(tok != PAD)[:, None, None, :])\n"
    assert "(tok == PAD)" in mutate_source(sdpa, by_id("invert-padding-mask"))


def test_positional_add_dropped_in_the_plain_form():
    src = "def f(self, tok):\n    h = self.emb(tok)\n    h = h + self.pos_emb(torch.arange(T))\n    return self.enc(h)\n"
    m = mutate_source(src, by_id("drop-positional-add"))
    assert "_tt_pe = h + self.pos_emb" in m and "return self.enc(h)" in m
    assert mutate_source("h = self.enc(h)\nout = head(h + bias)\n", by_id("drop-positional-add")) is None


def test_dropout_raised_in_every_form_and_a_held_dropout_module_left_alone():
    src = ("a = nn.Dropout()\nb = nn.Dropout2d(p=0.1)\nc = F.dropout(x, 0.2, training=True)\n"
           "d = nn.GRU(8, 8, 2, dropout=0.3)\ne = self.dropout(h)\nf = nn.Dropout(0.0)\n")
    m = mutate_source(src, by_id("high-dropout"))
    assert "nn.Dropout(p=0.75)" in m and "nn.Dropout2d(p=0.75)" in m and "F.dropout(x, 0.75, training=True)" in m
    assert "dropout=0.75" in m and "self.dropout(h)" in m and "nn.Dropout(0.0)" in m
    assert mutate_source("e = self.dropout(h)\nf = nn.Dropout(0.0)\n", by_id("high-dropout")) is None
