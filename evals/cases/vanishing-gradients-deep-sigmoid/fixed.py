"""Deep (12 hidden layers) sigmoid MLP, plain loop."""
import torch
import torch.nn as nn

torch.manual_seed(0)
DEPTH, WIDTH = 12, 64

layers = [nn.Linear(16, WIDTH), nn.LayerNorm(WIDTH), nn.ReLU()]
for _ in range(DEPTH - 1):
    layers += [nn.Linear(WIDTH, WIDTH), nn.LayerNorm(WIDTH), nn.ReLU()]
model = nn.Sequential(*layers, nn.Linear(WIDTH, 4))

X = torch.randn(2048, 16)
Y = (X[:, :6] @ torch.randn(6, 4)).argmax(1)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(300):
    idx = torch.randint(0, len(X), (64,))
    loss = nn.functional.cross_entropy(model(X[idx]), Y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        print(f"step {step} loss {loss.item():.4f}")

with torch.no_grad():
    acc = (model(X).argmax(1) == Y).float().mean().item()
print(f"final loss {loss.item():.4f} acc {acc:.3f}")
