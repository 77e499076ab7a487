"""Regression with an activation penalty on the shared features 'to keep them small', weighted like the task."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(1024, 10)
y = (3.0 * X[:, :1] - 2.0 * X[:, 1:2] + X[:, 2:3] * X[:, 3:4]) * 2.0

trunk = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 8))
head = nn.Linear(8, 1)
opt = torch.optim.Adam([*trunk.parameters(), *head.parameters()], lr=1e-2)

for step in range(300):
    idx = torch.randint(0, 1024, (128,))
    feats = trunk(X[idx])
    task = F.mse_loss(head(feats), y[idx])
    act_penalty = F.mse_loss(feats, torch.zeros_like(feats))  # activation L2
    loss = task + 10.0 * act_penalty
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} task mse {task.item():.3f} penalty {act_penalty.item():.4f}")
