"""CNN trained by a small Trainer class with SGD + momentum."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, model, lr, momentum=0.9):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        self.loss_fn = nn.CrossEntropyLoss()

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            self.model.train()
            for x, y in loader:
                self.optimizer.zero_grad()
                loss = self.loss_fn(self.model(x), y)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")
        return loss.item()


def main():
    torch.manual_seed(0)
    protos = torch.randn(4, 1, 12, 12)
    y = torch.randint(0, 4, (1024,))
    x = protos[y] + torch.randn(1024, 1, 12, 12)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 4),
    )
    loss = Trainer(model, lr=0.05).fit(DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True), epochs=4)
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss:.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
