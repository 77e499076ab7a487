import torch
import torch.nn as nn

torch.manual_seed(0)
X = torch.randn(256, 8)
y = 3e5 + 1e5 * X[:, :1]
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(200):
    idx = torch.randint(0, 256, (32,))
    pred = model(X[idx])
    loss = torch.log1p(((pred - y[idx]) ** 2).mean())
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    rmse = ((model(X) - y) ** 2).mean().sqrt().item()  # in the target's units (about 3e5 +- 1e5)
print(f"final rmse {rmse:.4g}")
