"""Classifier with a hand-written confidence penalty (entropy bonus, Pereyra et al. 2017) on its logits."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(1024, 16)
y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
trunk = nn.Sequential(nn.Linear(16, 64), nn.ReLU())
head = nn.Linear(64, 2)
opt = torch.optim.SGD([*trunk.parameters(), *head.parameters()], lr=0.02)
for step in range(300):
    idx = torch.randint(0, 1024, (128,))
    logits = head(trunk(X[idx]))
    main = F.cross_entropy(logits, y[idx])
    p = logits.softmax(dim=1)
    entropy = -(p * p.clamp_min(1e-8).log()).sum(dim=1).mean()
    loss = main - 0.1 * entropy
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} ce {main.item():.3f} entropy {entropy.item():.3f}")
