"""MLP classifier, plain loop over shuffled minibatches."""
import torch
import torch.nn as nn

torch.manual_seed(0)
X = torch.randn(2000, 32)
W = torch.randn(32, 6)
Y = (X @ W + 0.3 * torch.randn(2000, 6)).argmax(1)

model = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 6))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()

for epoch in range(10):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), 100):
        idx = perm[i : i + 100]
        loss = criterion(model(X[idx]), Y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    acc = (model(X).argmax(1) == Y).float().mean().item()
print(f"final loss {loss.item():.4f} acc {acc:.3f}")
