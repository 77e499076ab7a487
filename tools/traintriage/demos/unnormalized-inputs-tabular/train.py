"""Tabular churn classifier: age, income, tenure, ... on their natural scales."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_table(n):
    age = 18 + 60 * torch.rand(n)
    income = 20_000 + 150_000 * torch.rand(n)
    tenure_days = 3_000 * torch.rand(n)
    calls = torch.poisson(torch.full((n,), 3.0))
    X = torch.stack([age, income, tenure_days, calls], 1)
    z = (age - 48) / 17 - (income - 95_000) / 43_000 + (tenure_days - 1500) / 866 - (calls - 3) / 1.7
    return X, (z > 0).long()


def main():
    torch.manual_seed(0)
    X, y = make_table(4096)
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(4):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(X).argmax(1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
