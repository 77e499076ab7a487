"""Binary classifier; --bug sigmoid-bceloss feeds sigmoid outputs to BCEWithLogitsLoss."""
import sys

import torch
import torch.nn as nn

bug = sys.argv[1] if len(sys.argv) > 1 else ""
torch.manual_seed(0)
x = torch.randn(256, 10)
y = (x[:, 0] + 0.5 * x[:, 1] > 0).float()
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
lossf = nn.BCEWithLogitsLoss()
for step in range(200):
    i = (step * 32) % 256
    xb, yb = x[i:i + 32], y[i:i + 32]
    out = model(xb).squeeze(1)
    if bug == "sigmoid-bceloss":
        out = torch.sigmoid(out)
    loss = lossf(out, yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
