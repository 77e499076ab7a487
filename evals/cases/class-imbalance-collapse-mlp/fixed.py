"""Fraud detector: 3% positives, MLP with cross-entropy, DataLoader loop."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_data(n, generator):
    y = (torch.rand(n, generator=generator) < 0.03).long()
    x = torch.randn(n, 16, generator=generator)
    x[y == 1, :3] += 1.0  # fraud shifts a few features a little
    return x, y


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X, y = make_data(8192, g)
    loader = DataLoader(TensorDataset(X, y), batch_size=128, shuffle=True)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
    counts = torch.bincount(y, minlength=2).float()
    criterion = nn.CrossEntropyLoss(weight=counts.sum() / (2 * counts))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(3):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    X_test, y_test = make_data(4096, g)
    with torch.no_grad():
        pred = model(X_test).argmax(1)
    recall = (pred[y_test == 1] == 1).float().mean().item()
    specificity = (pred[y_test == 0] == 0).float().mean().item()
    print(f"final loss {loss.item():.4f} balanced_acc {(recall + specificity) / 2:.3f} fraud_recall {recall:.3f}")


if __name__ == "__main__":
    main()
