"""MLP classifier on synthetic clusters, DataLoader + Adam."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

LR = 1e-3  # learning rate


def main():
    torch.manual_seed(0)
    centers = torch.randn(8, 16) * 2
    y = torch.randint(0, 8, (2048,))
    x = centers[y] + torch.randn(2048, 16)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 8))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    crit = nn.CrossEntropyLoss()
    for epoch in range(5):
        for xb, yb in loader:
            opt.zero_grad()
            loss = crit(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
