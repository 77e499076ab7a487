"""Three regression heads on one trunk; each head's loss is clamped at 1.0 'for robustness' and the per-head
losses are summed in a loop. The third head predicts revenue in raw units."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(1024, 8)
targets = [X[:, 0:1] + X[:, 1:2], X[:, 2:3] - X[:, 3:4], 5000.0 + 900.0 * X[:, 4:5]]
trunk = nn.Sequential(nn.Linear(8, 64), nn.ReLU())
heads = nn.ModuleList(nn.Linear(64, 1) for _ in targets)
opt = torch.optim.Adam([*trunk.parameters(), *heads.parameters()], lr=1e-3)
for step in range(300):
    idx = torch.randint(0, 1024, (128,))
    h = trunk(X[idx])
    total = 0.0
    for head, t in zip(heads, targets):
        total = total + torch.clamp(F.mse_loss(head(h), (t[idx] - t.mean()) / t.std()), max=1.0)
    opt.zero_grad()
    total.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} loss {total.item():.3f}")
