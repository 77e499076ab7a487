"""Regression trained directly on RMSE, computed with numpy 'to match the evaluation script'."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def rmse_loss(pred, target):
    return torch.sqrt(torch.mean((pred - target) ** 2))


def run(epochs=6, lr=3e-3):
    torch.manual_seed(0)
    X = torch.randn(2048, 10)
    w = torch.randn(10)
    y = X @ w + 0.5 * torch.sin(3 * X[:, 0])
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        for xb, yb in loader:
            loss = rmse_loss(model(xb).squeeze(-1), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch} rmse {loss.item():.4f}")
    with torch.no_grad():
        full = torch.sqrt(((model(X).squeeze(-1) - y) ** 2).mean()).item()
    return full


if __name__ == "__main__":
    print(f"final rmse {run():.4f}")
