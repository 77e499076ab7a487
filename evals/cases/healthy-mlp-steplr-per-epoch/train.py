"""Healthy control: MLP classifier, SGD + momentum, StepLR stepped once per epoch, validation in eval mode."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    torch.manual_seed(0)
    X = torch.randn(3072, 20)
    Y = (torch.relu(X @ torch.randn(20, 32)) @ torch.randn(32, 5)).argmax(1)
    train_loader = DataLoader(TensorDataset(X[:2560], Y[:2560]), batch_size=64, shuffle=True)
    val_x, val_y = X[2560:], Y[2560:]
    model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 5))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.3)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(6):
        model.train()
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            val_acc = (model(val_x).argmax(1) == val_y).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} val_acc {val_acc:.3f} lr {scheduler.get_last_lr()[0]:.3g}")
    print(f"final loss {loss.item():.4f} val_acc {val_acc:.3f}")


if __name__ == "__main__":
    main()
