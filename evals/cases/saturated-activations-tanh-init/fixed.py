"""Tanh MLP with unit-variance Gaussian weight init, DataLoader loop."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_model(width=256):
    model = nn.Sequential(
        nn.Linear(32, width), nn.Tanh(),
        nn.Linear(width, width), nn.Tanh(),
        nn.Linear(width, width), nn.Tanh(),
        nn.Linear(width, 5),
    )
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain("tanh"))
            nn.init.zeros_(m.bias)
    return model


def main():
    torch.manual_seed(0)
    X = torch.randn(2048, 32)
    Y = (X[:, :10] @ torch.randn(10, 5)).argmax(1)
    loader = DataLoader(TensorDataset(X, Y), batch_size=64, shuffle=True)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(5):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(X).argmax(1) == Y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
