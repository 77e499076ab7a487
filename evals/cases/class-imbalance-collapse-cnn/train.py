"""Defect detector on 12x12 patches: 4% of patches show a faint scratch; Trainer class, CNN."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_patches(n, g):
    y = (torch.rand(n, generator=g) < 0.04).long()
    x = torch.randn(n, 1, 12, 12, generator=g)
    rows = torch.randint(2, 10, (n,), generator=g)
    for i in torch.nonzero(y).flatten().tolist():
        x[i, 0, rows[i], 2:10] += 1.2  # a faint horizontal scratch
    return x, y


class Trainer:
    def __init__(self, model, loader, lr=1e-3):
        self.model = model
        self.loader = loader
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.criterion = nn.CrossEntropyLoss()

    def fit(self, epochs):
        for epoch in range(epochs):
            self.model.train()
            for x, y in self.loader:
                self.optimizer.zero_grad()
                loss = self.criterion(self.model(x), y)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")
        return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = make_patches(4096, g)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
        nn.Flatten(), nn.Linear(16, 2),
    )
    loss = Trainer(model, loader).fit(epochs=3)
    x_test, y_test = make_patches(2048, g)
    model.eval()
    with torch.no_grad():
        pred = model(x_test).argmax(1)
    recall = (pred[y_test == 1] == 1).float().mean().item()
    specificity = (pred[y_test == 0] == 0).float().mean().item()
    print(f"final loss {loss:.4f} balanced_acc {(recall + specificity) / 2:.3f} defect_recall {recall:.3f}")
