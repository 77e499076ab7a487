"""Fine-tune a 'pretrained' MLP on a new 5-class task: freeze the backbone, swap in a new head."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


# synthetic task: labels come from a fixed random teacher
teacher = nn.Linear(20, 5)
X = torch.randn(2048, 20)
with torch.no_grad():
    Y = teacher(X).argmax(dim=1)

model = Net(num_classes=10)  # pretend these weights came from a checkpoint
for p in model.backbone.parameters():
    p.requires_grad = False

model.head = nn.Linear(64, 5)  # new task has 5 classes
optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=3e-3)

batch_size = 64
for step in range(300):
    idx = torch.randint(0, len(X), (batch_size,))
    logits = model(X[idx])
    loss = F.cross_entropy(logits, Y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        print(f"step {step} loss {loss.item():.4f}")

with torch.no_grad():
    acc = (model(X).argmax(1) == Y).float().mean().item()
print(f"final loss {loss.item():.4f} acc {acc:.3f}")
