"""Joint classification + price regression; targets standardized, plain MSE (no log1p)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
X = torch.randn(512, 12)
y_cls = (X[:, 0] + X[:, 1] > 0).long()
price = 250.0 + 80.0 * X[:, 2:3] - 40.0 * X[:, 3:4]  # raw units: hundreds
p_mean, p_std = price.mean(), price.std()
price_z = (price - p_mean) / p_std  # train on the standardized target, report in raw units

trunk = nn.Sequential(nn.Linear(12, 64), nn.ReLU())
cls_head = nn.Linear(64, 2)
reg_head = nn.Linear(64, 1)
params = [*trunk.parameters(), *cls_head.parameters(), *reg_head.parameters()]
opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)

for step in range(300):
    idx = torch.randint(0, 512, (64,))
    h = trunk(X[idx])
    ce = F.cross_entropy(cls_head(h), y_cls[idx])
    mse = F.mse_loss(reg_head(h), price_z[idx])
    loss = ce + mse
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} ce {ce.item():.3f} price mse {(mse * p_std**2).item():.1f}")
