"""Classifier with a small weight decay written by hand on the weight matrices only."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(1024, 20)
y = (X[:, :4].sum(1) > 0).long()
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for step in range(300):
    idx = torch.randint(0, 1024, (128,))
    ce = F.cross_entropy(model(X[idx]), y[idx])
    decay = 5e-4 * sum((m.weight ** 2).sum() for m in model if isinstance(m, nn.Linear))
    loss = ce + decay
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} ce {ce.item():.3f}")
