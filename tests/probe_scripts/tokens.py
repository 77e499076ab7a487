"""Tiny next-token model on padded sequences; --bug padding-in-loss leaves the pad id in the loss."""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

bug = sys.argv[1] if len(sys.argv) > 1 else ""
PAD, V, T = 0, 32, 24
torch.manual_seed(0)
seqs = torch.full((64, T), PAD)
for i in range(64):
    n = int(torch.randint(4, 10, ()))
    seqs[i, :n] = torch.randint(1, V, (n,))
model = nn.Sequential(nn.Embedding(V, 32), nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, V))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(100):
    b = seqs[(step * 16) % 64:(step * 16) % 64 + 16]
    logits = model(b[:, :-1])
    tgt = b[:, 1:]
    if bug == "padding-in-loss":
        loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))
    else:
        loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)
    opt.zero_grad()
    loss.backward()
    opt.step()
