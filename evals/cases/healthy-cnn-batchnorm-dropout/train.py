"""Healthy control: BatchNorm CNN with dropout, Trainer class, AdamW, per-epoch evaluation."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def images(n, seed):
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(6, 1, 12, 12, generator=torch.Generator().manual_seed(5))
    y = torch.randint(0, 6, (n,), generator=g)
    return TensorDataset(protos[y] + 1.0 * torch.randn(n, 1, 12, 12, generator=g), y)


class Trainer:
    def __init__(self, model, train_ds, val_ds, lr=2e-3):
        self.model = model
        self.loader = DataLoader(train_ds, batch_size=32, shuffle=True)
        self.val_ds = val_ds
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
        self.criterion = nn.CrossEntropyLoss()

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        x, y = self.val_ds.tensors
        acc = (self.model(x).argmax(1) == y).float().mean().item()
        self.model.train()
        return acc

    def fit(self, epochs):
        self.model.train()
        for epoch in range(epochs):
            for x, y in self.loader:
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.criterion(self.model(x), y)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f} val_acc {self.evaluate():.3f}")
        return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 9, 6),
    )
    trainer = Trainer(model, images(1024, 0), images(512, 1))
    loss = trainer.fit(epochs=4)
    print(f"final loss {loss:.4f} val_acc {trainer.evaluate():.3f}")
