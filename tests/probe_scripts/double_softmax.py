"""Healthy control: a small MLP classifier on synthetic blobs with a DataLoader."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

BUG = False  # twins flip this


def make_data(n=512, d=20, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 2
    y = torch.randint(0, c, (n,), generator=g)
    x = centers[y] + torch.randn(n, d, generator=g)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(0)
    x, y = make_data()
    dl = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, num_workers=a.workers)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 5))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    lossf = nn.CrossEntropyLoss()
    for epoch in range(a.epochs):
        model.train()
        for xb, yb in dl:
            opt.zero_grad()
            loss = lossf(torch.softmax(model(xb), -1), yb)
            loss.backward()
            opt.step()
        print("epoch", epoch, loss.item())
    torch.save(model.state_dict(), "model.pt")


if __name__ == "__main__":
    main()
