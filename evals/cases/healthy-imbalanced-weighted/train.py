"""Healthy control: 5% positives handled with a class-weighted BCEWithLogitsLoss (pos_weight) on raw logits."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_data(n, g):
    y = (torch.rand(n, generator=g) < 0.05).float()
    x = torch.randn(n, 16, generator=g)
    x[y == 1, :3] += 1.5
    return x, y


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X, y = make_data(8192, g)
    loader = DataLoader(TensorDataset(X, y), batch_size=128, shuffle=True)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
    pos_weight = (y == 0).sum() / (y == 1).sum()
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(3):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb).squeeze(-1), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    X_test, y_test = make_data(4096, g)
    with torch.no_grad():
        pred = (model(X_test).squeeze(-1) > 0).float()
    recall = (pred[y_test == 1] == 1).float().mean().item()
    specificity = (pred[y_test == 0] == 0).float().mean().item()
    print(f"final loss {loss.item():.4f} balanced_acc {(recall + specificity) / 2:.3f}")


if __name__ == "__main__":
    main()
