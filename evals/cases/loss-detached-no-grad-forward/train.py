"""CNN classifier; forward pass copied from the validation loop."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class SmallCNN(nn.Module):
    def __init__(self, n_classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(16, n_classes)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


def make_images(n, generator):
    protos = torch.randn(4, 1, 12, 12, generator=torch.Generator().manual_seed(7))
    y = torch.randint(0, 4, (n,), generator=generator)
    return protos[y] + 0.8 * torch.randn(n, 1, 12, 12, generator=generator), y


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = make_images(1024, g)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = SmallCNN()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(8):
        model.train()
        for xb, yb in loader:
            with torch.no_grad():
                logits = model(xb)
            loss = criterion(logits, yb)
            loss.requires_grad_(True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
