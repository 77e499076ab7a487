"""CNN with BatchNorm and dropout; a Trainer that evaluates after every epoch."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def images(n, seed):
    g = torch.Generator().manual_seed(seed)
    protos = 3.0 * torch.randn(6, 1, 12, 12, generator=torch.Generator().manual_seed(5)) + 4.0
    y = torch.randint(0, 6, (n,), generator=g)
    return TensorDataset(protos[y] + 6.0 * torch.randn(n, 1, 12, 12, generator=g), y)


class Trainer:
    def __init__(self, model, train_ds, val_ds):
        self.model = model
        self.train_loader = DataLoader(train_ds, batch_size=32, shuffle=True)
        self.val_ds = val_ds
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        self.criterion = nn.CrossEntropyLoss()

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        x, y = self.val_ds.tensors
        return (self.model(x).argmax(1) == y).float().mean().item()

    def fit(self, epochs):
        self.model.train()
        for epoch in range(epochs):
            for x, y in self.train_loader:
                self.optimizer.zero_grad()
                loss = self.criterion(self.model(x), y)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f} val_acc {self.evaluate():.3f}")
        return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 9, 6),
    )
    trainer = Trainer(model, images(384, 0), images(512, 1))
    loss = trainer.fit(epochs=6)
    print(f"final loss {loss:.4f} val_acc {trainer.evaluate():.3f}")
