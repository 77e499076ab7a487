"""Demand forecaster; the L1 error is squashed with tanh 'so one bad batch cannot blow up training'."""
import torch
import torch.nn as nn

torch.manual_seed(0)
X = torch.randn(2048, 6)
demand = 800.0 + 120.0 * X[:, 0:1] + 60.0 * X[:, 1:2]
model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(400):
    idx = torch.randint(0, 2048, (64,))
    err = (model(X[idx]) - demand[idx]).abs().mean()
    loss = torch.tanh(err)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step} mae {err.item():.2f}")
