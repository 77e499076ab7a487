"""positional-encoding-unused, measured on real runs: an encoder whose positional encoding is computed and dropped
(the bug), the same with it added (the fix), a deliberately order-free set model (blind by design, nothing
positional dropped), and a model with an unused position table that still sees order through a convolution."""

from __future__ import annotations

import textwrap

import pytest

HEAD = """
import torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
T, D = 10, 16
x = torch.randint(0, 9, (32, T))
y = (x[:, 1] > x[:, 2]).long()
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(9, D)
{pos}
        self.conv = nn.Conv1d(D, D, 3, padding=1)
        self.enc = nn.TransformerEncoderLayer(D, 2, 32, batch_first=True)
        self.head = nn.Linear(D, 2)
    def forward(self, tok):
        h = self.emb(tok)
{body}
        return self.head(self.enc(h).mean(1))
model = M()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(4):
    loss = F.cross_entropy(model(x), y)
    print("loss", repr(loss.item()), flush=True)
    opt.zero_grad(); loss.backward(); opt.step()
"""
POS = "        self.pos = nn.Parameter(torch.randn(T, D) * 0.1)"
SQUARE = "        self.aux = nn.Linear(D, D)  # unused, square: not a position table"
BODIES = {
    "dropped": (POS, "        p = h + self.pos"),
    "added": (POS, "        h = h + self.pos"),
    "set": (SQUARE, "        pass"),
    "conv": (POS, "        h = self.conv(h.transpose(1, 2)).transpose(1, 2)"),
}


def _probe(tmp_path, pos_body):
    from traintriage.probe.runner import probe_with_records

    s = tmp_path / "train.py"
    s.write_text(textwrap.dedent(HEAD.format(pos=pos_body[0], body=pos_body[1])))
    rep, records = probe_with_records(s, mode="observe", steps=3, timeout=120)
    return rep, [r for r in records if r.get("kind") == "posblind"]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "blind"), [("dropped", True), ("added", None), ("set", None), ("conv", False)])
def test_order_blindness_with_a_dropped_position_tensor(tmp_path, name, blind):
    rep, recs = _probe(tmp_path, BODIES[name])
    if blind is None:  # nothing positional thrown away: the order test does not even run
        assert recs == []
    else:
        assert len(recs) == 1 and recs[0]["blind"] is blind and "pos" in recs[0]["dead"]
    assert ("positional-encoding-unused" in {f.id for f in rep.findings}) == bool(blind)


@pytest.mark.slow
def test_the_order_test_leaves_the_run_unchanged(tmp_path):
    import subprocess
    import sys

    s = tmp_path / "plain.py"
    s.write_text(textwrap.dedent(HEAD.format(pos=POS, body=BODIES["dropped"][1])))
    plain = subprocess.run([sys.executable, str(s)], capture_output=True, text=True, timeout=120).stdout
    rep, recs = _probe(tmp_path, BODIES["dropped"])
    assert recs and recs[0]["blind"]
    probed = [ln for ln in rep.stdout_tail.splitlines() if ln.startswith("loss ")]
    assert len(probed) >= 3 and probed == plain.splitlines()[:len(probed)]  # the extra forwards changed nothing
