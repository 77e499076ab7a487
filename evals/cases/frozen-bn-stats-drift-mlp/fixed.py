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
old_head = nn.Linear(64, 6)

# --- pretraining (stands in for loading a checkpoint) ---
x_pre, y_pre = task(4096)
opt = torch.optim.Adam(list(backbone.parameters()) + list(old_head.parameters()), lr=3e-3)
for _ in range(150):
    idx = torch.randint(0, len(x_pre), (128,))
    loss = F.cross_entropy(old_head(backbone(x_pre[idx])), y_pre[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()

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
