"""Joint classification + price regression; the regression error is log1p-compressed 'to match the CE scale'."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(512, 12)
y_cls = (X[:, 0] + X[:, 1] > 0).long()
price = 250.0 + 80.0 * X[:, 2:3] - 40.0 * X[:, 3:4]  # raw units: hundreds

trunk = nn.Sequential(nn.Linear(12, 64), nn.ReLU())
cls_head = nn.Linear(64, 2)
reg_head = nn.Linear(64, 1)
params = [*trunk.parameters(), *cls_head.parameters(), *reg_head.parameters()]
opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)

for step in range(300):
    idx = torch.randint(0, 512, (64,))
    h = trunk(X[idx])
    ce = F.cross_entropy(cls_head(h), y_cls[idx])
    mse = F.mse_loss(reg_head(h), price[idx])
    loss = ce + 0.1 * torch.log1p(mse)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} ce {ce.item():.3f} price mse {mse.item():.1f}")
