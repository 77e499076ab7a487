"""Regression; --bug wrong-loss-formula ([N,1] vs [N] broadcast), --bug unnormalized-targets (raw scale)."""
import sys
import warnings

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

warnings.simplefilter("ignore")
bug = sys.argv[1] if len(sys.argv) > 1 else ""
torch.manual_seed(0)
x = torch.randn(512, 8)
y = x @ torch.randn(8) + 0.1 * torch.randn(512)
if bug == "unnormalized-targets":
    y = y * 2e4 + 3e5  # house prices in dollars
dl = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _epoch in range(50):
    for xb, yb in dl:
        pred = model(xb)
        if bug != "wrong-loss-formula":
            pred = pred.squeeze(1)
        loss = nn.functional.mse_loss(pred, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
