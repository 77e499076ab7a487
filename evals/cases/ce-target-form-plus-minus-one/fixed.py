"""Binary classifier on a dataset whose labels come as -1/+1 (SVM convention), BCEWithLogitsLoss."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def load_dataset(n=4096):
    x = torch.randn(n, 10)
    labels = torch.where(x[:, 0] + 0.5 * x[:, 1] * x[:, 2] > 0, 1.0, -1.0)  # stored as -1 / +1
    return x, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.manual_seed(0)
    x, labels = load_dataset()
    targets = (labels > 0).float()  # BCE wants 0 / 1
    loader = DataLoader(TensorDataset(x, targets), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
    criterion = nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = criterion(model(xb).squeeze(-1), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        logits = model(x).squeeze(-1)
        acc = ((logits > 0) == (labels > 0)).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
