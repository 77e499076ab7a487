"""Loan-default classifier on a table whose last column, 'days_in_collections', is only filled in after a default."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = ["income", "debt_ratio", "age", "n_accounts", "late_payments", "days_in_collections"]


def make_table(n, deployed=False):
    x = torch.randn(n, 5)
    risk = 1.2 * x[:, 1] - 0.8 * x[:, 0] + 0.6 * x[:, 4] + 0.5 * torch.randn(n)
    default = (risk > 0.5).float()
    # recorded after the fact: zero for loans that did not default (and unknown, so zero, at prediction time)
    collections = torch.zeros(n) if deployed else default * (30 + 60 * torch.rand(n)) / 30
    return torch.cat([x, collections[:, None]], 1), default


def main():
    torch.manual_seed(0)
    X, y = make_table(4096)
    feature_cols = [i for i, name in enumerate(FEATURES) if name != "days_in_collections"]
    loader = DataLoader(TensorDataset(X[:, feature_cols], y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(len(feature_cols), 32), nn.ReLU(), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(4):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(model(xb).squeeze(-1), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    X_new, y_new = make_table(2048, deployed=True)
    with torch.no_grad():
        train_acc = ((model(X[:, feature_cols]).squeeze(-1) > 0).float() == y).float().mean().item()
        new_acc = ((model(X_new[:, feature_cols]).squeeze(-1) > 0).float() == y_new).float().mean().item()
    print(f"final loss {loss.item():.4f} train_acc {train_acc:.3f} deployed_acc {new_acc:.3f}")


if __name__ == "__main__":
    main()
