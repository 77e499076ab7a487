"""Regression MLP on standardised targets, plain loop."""
import torch
import torch.nn as nn

torch.manual_seed(0)
X = torch.randn(4096, 8)
y = X[:, 0] - 0.7 * X[:, 1] + 0.3 * X[:, 2] * X[:, 3]
y = (y - y.mean()) / y.std()  # standardised: half the targets are negative

model = nn.Sequential(
    nn.Linear(8, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(400):
    idx = torch.randint(0, len(X), (128,))
    loss = nn.functional.mse_loss(model(X[idx]).squeeze(1), y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 100 == 0:
        print(f"step {step} loss {loss.item():.4f}")

with torch.no_grad():
    mse = nn.functional.mse_loss(model(X).squeeze(1), y).item()
print(f"final mse {mse:.4f}")
