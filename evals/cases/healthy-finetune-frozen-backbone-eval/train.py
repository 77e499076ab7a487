"""Healthy control: fine-tune a new head on a frozen BatchNorm backbone, backbone kept in eval mode,
optimizer built after the head swap and only over trainable parameters."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(16, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU()
        )
        self.head = nn.Linear(64, n_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def task(n, W):
    x = torch.randn(n, 16) * 2.0 + 3.0
    return x, ((x - 3.0) @ W).argmax(1)


def fit(model, params, x, y, steps, lr, bs):
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(steps):
        idx = torch.randint(0, len(x), (bs,))
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    W = torch.randn(16, 6)
    model = Net(n_classes=6)
    # "pretrained" backbone (stands in for loading a checkpoint, so the probe's steps reach the fine-tuning):
    # fixed weights, BatchNorm statistics calibrated on the pretraining data as torch.optim.swa_utils.update_bn does
    x_pre, _ = task(4096, W)
    bns = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm1d)]
    for m in bns:
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for i in range(0, len(x_pre), 256):
            model.backbone(x_pre[i:i + 256])
    for m in bns:
        m.momentum = 0.1

    model.head = nn.Linear(64, 6)
    model.backbone.requires_grad_(False)
    model.train()
    model.backbone.eval()  # frozen BatchNorm keeps its pretrained statistics
    trainable = [p for p in model.parameters() if p.requires_grad]
    x_ft, y_ft = task(1024, W)
    loss = fit(model, trainable, x_ft, y_ft, steps=200, lr=1e-2, bs=8)
    model.eval()
    x_val, y_val = task(1024, W)
    with torch.no_grad():
        acc = (model(x_val).argmax(1) == y_val).float().mean().item()
    print(f"final loss {loss:.4f} val_acc {acc:.3f}")
