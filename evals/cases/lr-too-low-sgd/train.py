"""Two-layer MLP regression with plain SGD."""
import torch
import torch.nn as nn

torch.manual_seed(0)
N, D = 2048, 16
X = torch.randn(N, D)
y = torch.tanh(X[:, :3].sum(1)) + 0.5 * X[:, 3] * X[:, 4]

model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
learning_rate = 1e-5
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

for step in range(400):
    idx = torch.randint(0, N, (128,))
    pred = model(X[idx]).squeeze(1)
    loss = nn.functional.mse_loss(pred, y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 100 == 0:
        print(f"step {step} loss {loss.item():.4f}")

with torch.no_grad():
    mse = nn.functional.mse_loss(model(X).squeeze(1), y).item()
print(f"final mse {mse:.4f} (target variance {y.var().item():.4f})")
