"""Healthy control: gradient accumulation over 4 micro-batches with the loss divided by 4, SGD, grad clipping."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

ACCUM_STEPS = 4


def main():
    torch.manual_seed(0)
    X = torch.randn(8192, 16)
    y = torch.sin(X[:, 0] * 1.5) + X[:, 1] * X[:, 2] - 0.5 * X[:, 3]
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    optimizer.zero_grad()
    for epoch in range(2):
        for i, (xb, yb) in enumerate(loader):
            loss = nn.functional.mse_loss(model(xb).squeeze(-1), yb)
            (loss / ACCUM_STEPS).backward()
            if (i + 1) % ACCUM_STEPS == 0:
                nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
                optimizer.step()
                optimizer.zero_grad()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(X).squeeze(-1), y).item()
    print(f"final mse {mse:.4f} (target variance {y.var().item():.3f})")


if __name__ == "__main__":
    main()
