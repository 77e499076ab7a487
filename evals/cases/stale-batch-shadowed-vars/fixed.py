"""CNN Trainer that logs a sample batch before training."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, model, train_ds, val_ds, lr=3e-3):
        self.model = model
        self.loader = DataLoader(train_ds, batch_size=32, shuffle=True)
        self.val_ds = val_ds
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)

    def fit(self, epochs):
        x, y = next(iter(self.loader))
        print(f"sample batch: {tuple(x.shape)}, labels {y[:8].tolist()}")
        for epoch in range(epochs):
            self.model.train()
            for images, labels in self.loader:
                self.opt.zero_grad()
                loss = nn.functional.cross_entropy(self.model(images), labels)
                loss.backward()
                self.opt.step()
            print(f"epoch {epoch} loss {loss.item():.4f} val_acc {self.evaluate():.3f}")
        return loss.item()

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        x, y = self.val_ds.tensors
        return (self.model(x).argmax(1) == y).float().mean().item()


def images(n, seed):
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(10, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (n,), generator=g)
    return TensorDataset(protos[y] + 1.2 * torch.randn(n, 1, 12, 12, generator=g), y)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 9, 10),
    )
    trainer = Trainer(model, images(1024, 0), images(512, 1))
    loss = trainer.fit(epochs=5)
    print(f"final loss {loss:.4f} val_acc {trainer.evaluate():.3f}")
