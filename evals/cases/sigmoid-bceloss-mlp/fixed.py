"""Binary classifier (MLP) with BCEWithLogitsLoss; the model squashes its output 'to get probabilities'."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class BinaryMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.out = nn.Linear(64, 1)

    def forward(self, x):
        return self.out(self.body(x)).squeeze(-1)


def main():
    torch.manual_seed(0)
    X = torch.randn(4096, 12)
    y = ((X[:, 0] * X[:, 1] + 0.5 * X[:, 2]) > 0).float()
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
    model = BinaryMLP()
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(4):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        out = model(X)
        acc = ((out > out.median()) == y.bool()).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
