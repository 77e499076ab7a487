"""MLP regression with a hand-written MSE, DataLoader loop."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def mse(pred, target):
    return (pred - target).mean() ** 2


def main():
    torch.manual_seed(0)
    X = torch.randn(4096, 10)
    y = X[:, 0] * X[:, 1] + torch.sin(2 * X[:, 2]) + 0.5 * X[:, 3]
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(3):
        for xb, yb in loader:
            loss = mse(model(xb).squeeze(-1), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.5f}")
    with torch.no_grad():
        true_mse = ((model(X).squeeze(-1) - y) ** 2).mean().item()
    print(f"final loss {loss.item():.5f} true_mse {true_mse:.4f} (target variance {y.var().item():.3f})")


if __name__ == "__main__":
    main()
