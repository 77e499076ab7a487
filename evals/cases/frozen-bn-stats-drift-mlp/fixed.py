"""Fine-tune a new head on a frozen, pretrained BatchNorm MLP backbone with small batches."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
W = torch.randn(16, 6)


def task(n, shift=0.0):
    x = torch.randn(n, 16) * 2.0 + 3.0 + shift
    return x, ((x - 3.0 - shift) @ W).argmax(1)


backbone = nn.Sequential(nn.Linear(16, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU())

# --- "pretrained" backbone (stands in for loading a checkpoint): fixed weights, BatchNorm statistics
# calibrated on the pretraining data (a cumulative average over it, as torch.optim.swa_utils.update_bn does) ---
x_pre, _ = task(4096)
bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm1d)]
for m in bns:
    m.momentum = None
with torch.no_grad():
    for i in range(0, len(x_pre), 256):
        backbone(x_pre[i:i + 256])
for m in bns:
    m.momentum = 0.1

# --- fine-tuning: frozen backbone, new head, batches of 4 ---
for p in backbone.parameters():
    p.requires_grad = False
head = nn.Linear(64, 6)
model = nn.Sequential(backbone, head)
optimizer = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
x_ft, y_ft = task(1024)
model.train()
backbone.eval()  # frozen layers keep their pretrained BatchNorm statistics
for step in range(300):
    idx = torch.randint(0, len(x_ft), (4,))
    loss = F.cross_entropy(model(x_ft[idx]), y_ft[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        print(f"step {step} loss {loss.item():.4f}")

model.eval()
x_val, y_val = task(1024)
with torch.no_grad():
    acc = (model(x_val).argmax(1) == y_val).float().mean().item()
print(f"final loss {loss.item():.4f} val_acc {acc:.3f}")
