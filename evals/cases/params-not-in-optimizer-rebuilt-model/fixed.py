"""Small CNN on synthetic 12x12 'digits', driven by a Trainer class."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(4, 1, 12, 12, generator=torch.Generator().manual_seed(123))
    y = torch.randint(0, 4, (n,), generator=g)
    x = protos[y] + 0.8 * torch.randn(n, 1, 12, 12, generator=g)
    return TensorDataset(x, y)


def build_model(cfg):
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, cfg.num_classes),
    )


class Trainer:
    def __init__(self, model, optimizer, loader):
        self.model = model
        self.optimizer = optimizer
        self.loader = loader
        self.loss_fn = nn.CrossEntropyLoss()

    def train_epoch(self):
        self.model.train()
        total = 0.0
        for x, y in self.loader:
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return total / len(self.loader)

    @torch.no_grad()
    def evaluate(self, ds):
        self.model.eval()
        x, y = ds.tensors
        return (self.model(x).argmax(1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--num-classes", type=int, default=4)
    cfg = parser.parse_args()
    torch.manual_seed(0)

    train_ds, val_ds = make_data(1024, 1), make_data(256, 2)
    loader = DataLoader(train_ds, batch_size=64, shuffle=True)
    model = build_model(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    trainer = Trainer(model, optimizer, loader)
    for epoch in range(cfg.epochs):
        loss = trainer.train_epoch()
        print(f"epoch {epoch} loss {loss:.4f}")
    print(f"final loss {loss:.4f} val_acc {trainer.evaluate(val_ds):.3f}")


if __name__ == "__main__":
    main()
