"""Fine-tune a head over a frozen backbone.

--bug frozen-bn-stats-drift: the backbone's BatchNorm is frozen but left in train mode.
--bug frozen-param-in-optimizer: the frozen backbone is in AdamW with weight decay and keeps .grad zeros.
--bug state-dict-shape-mismatch: loads a checkpoint saved for a different head size.
"""
import os
import sys
import tempfile

import torch
import torch.nn as nn

bug = sys.argv[1] if len(sys.argv) > 1 else ""
torch.manual_seed(0)
x = torch.randn(128, 16) * 2 + 1
y = torch.randint(0, 3, (128,))
backbone = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU())
head = nn.Linear(32, 3)
model = nn.Sequential(backbone, head)
if bug == "state-dict-shape-mismatch":
    other = nn.Sequential(nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU()), nn.Linear(32, 10))
    path = os.path.join(tempfile.gettempdir(), f"tt_ckpt_{os.getpid()}.pt")
    torch.save(other.state_dict(), path)
    model.load_state_dict(torch.load(path))
if bug == "frozen-param-in-optimizer":
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.5)
    model(x[:32]).sum().backward()  # a warm-up pass leaves .grad on the backbone
for p in backbone.parameters():
    p.requires_grad = False
if bug != "frozen-param-in-optimizer":
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
model.train()
if bug != "frozen-bn-stats-drift":
    backbone[1].eval()
for step in range(100):
    xb, yb = x[(step * 32) % 128:(step * 32) % 128 + 32], y[(step * 32) % 128:(step * 32) % 128 + 32]
    loss = nn.functional.cross_entropy(model(xb), yb)
    opt.zero_grad(set_to_none=(bug != "frozen-param-in-optimizer"))
    loss.backward()
    opt.step()
