"""Step-based training loop (no epochs) over a DataLoader."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

MAX_STEPS = 300


def main():
    torch.manual_seed(0)
    W = torch.randn(24, 6)
    X = torch.randn(4096, 24)
    Y = (X @ W).argmax(1)
    train = TensorDataset(X[:3072], Y[:3072])
    val_x, val_y = X[3072:], Y[3072:]
    train_loader = DataLoader(train, batch_size=32)
    model = nn.Sequential(nn.Linear(24, 256), nn.ReLU(), nn.Linear(256, 6))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(MAX_STEPS):
        xb, yb = next(iter(train_loader))
        loss = nn.functional.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    with torch.no_grad():
        val_acc = (model(val_x).argmax(1) == val_y).float().mean().item()
    print(f"final loss {loss.item():.4f} val_acc {val_acc:.3f}")


if __name__ == "__main__":
    main()
