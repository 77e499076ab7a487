"""MLP on a synthetic tabular classification task, DataLoader + SGD with momentum."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    torch.manual_seed(0)
    X = torch.randn(2048, 24)
    Y = ((X[:, :4] ** 2).sum(1) > 4).long() + (X[:, 5] > 0.5).long()
    train_loader = DataLoader(TensorDataset(X, Y), batch_size=64, shuffle=True)

    model = nn.Sequential(nn.Linear(24, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(6):
        running = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            running += loss.item()
        print(f"epoch {epoch} loss {running / len(train_loader):.4f}")

    with torch.no_grad():
        acc = (model(X).argmax(1) == Y).float().mean().item()
    print(f"final loss {running / len(train_loader):.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
