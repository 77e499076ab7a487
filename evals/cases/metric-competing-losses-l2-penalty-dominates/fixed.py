"""Regression with a hand-written L2 penalty on every weight, summed in a generator expression."""
import torch
import torch.nn as nn

torch.manual_seed(0)
X = torch.randn(1024, 10)
y = X[:, :3].sum(1, keepdim=True) + 0.1 * torch.randn(1024, 1)
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(300):
    idx = torch.randint(0, 1024, (128,))
    pred = model(X[idx])
    fit = ((pred - y[idx]) ** 2).mean()
    l2 = sum(p.pow(2).sum() for p in model.parameters())
    loss = fit + 1e-4 * l2
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} fit {fit.item():.3f} l2 {l2.item():.2f}")
