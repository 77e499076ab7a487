"""CNN with a Trainer class; gradients are cleared 'once, before training'."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, model, train_ds, lr=2e-3, batch_size=64):
        self.model = model
        self.loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True)
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.crit = nn.CrossEntropyLoss()

    def fit(self, epochs):
        self.model.train()
        for epoch in range(epochs):
            for x, y in self.loader:
                self.opt.zero_grad()
                loss = self.crit(self.model(x), y)
                loss.backward()
                self.opt.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")
        return loss.item()


def synthetic_images(n, seed):
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(5, 1, 12, 12, generator=torch.Generator().manual_seed(11))
    y = torch.randint(0, 5, (n,), generator=g)
    return TensorDataset(protos[y] + torch.randn(n, 1, 12, 12, generator=g), y)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 9, 5),
    )
    ds = synthetic_images(1024, 0)
    loss = Trainer(model, ds).fit(epochs=7)
    model.eval()
    with torch.no_grad():
        x, y = ds.tensors
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss:.4f} acc {acc:.3f}")
