"""Classifier with an auxiliary InfoNCE term between two noisy views' embeddings (written by hand)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(1024, 16)
y = (X[:, 0] * X[:, 1] > 0).long()
enc = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32))
head = nn.Linear(32, 2)
opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-3)
for step in range(300):
    x = X[torch.randint(0, 1024, (128,))]
    yb = (x[:, 0] * x[:, 1] > 0).long()
    ce = F.cross_entropy(head(enc(x)), yb)
    z1 = F.normalize(enc(x + 0.1 * torch.randn_like(x)), dim=1)
    z2 = F.normalize(enc(x + 0.1 * torch.randn_like(x)), dim=1)
    sim = z1 @ z2.T / 0.1
    nce = -sim.log_softmax(dim=1).diagonal().mean()
    loss = ce + 0.5 * nce
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} ce {ce.item():.3f} nce {nce.item():.3f}")
