"""Detect-and-count: integer counts with a straight-through estimator, so the count head gets a gradient."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(2048, 20)
label = (X[:, :3].sum(1) > 0).long()
count = (X[:, 3:8] > 0.5).sum(1, keepdim=True).float()  # 0..5 objects

backbone = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
cls_head = nn.Linear(64, 2)
count_head = nn.Linear(64, 1)
model = nn.ModuleDict({"backbone": backbone, "cls": cls_head, "count": count_head})
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
loader = DataLoader(TensorDataset(X, label, count), batch_size=64, shuffle=True)

for epoch in range(3):
    for xb, yb, cb in loader:
        h = model["backbone"](xb)
        cls_loss = F.cross_entropy(model["cls"](h), yb)
        raw = model["count"](h)
        n_pred = raw + (raw.round() - raw).detach()  # integer forward, identity backward (straight-through)
        count_loss = F.l1_loss(n_pred, cb)
        loss = cls_loss + count_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {epoch} cls {cls_loss.item():.3f} count L1 {count_loss.item():.3f}")
