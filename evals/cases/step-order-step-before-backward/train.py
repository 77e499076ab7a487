"""GRU sequence classifier (is the running sum ever above a threshold?) with a Trainer class."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class GRUClassifier(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x):
        _, h = self.gru(x)
        return self.out(h[-1])


class Trainer:
    def __init__(self, model, lr=5e-3):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.criterion = nn.CrossEntropyLoss()

    def training_step(self, x, y):
        logits = self.model(x)
        loss = self.criterion(logits, y)
        self.optimizer.zero_grad()
        self.optimizer.step()
        loss.backward()
        return loss.item()

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            self.model.train()
            losses = [self.training_step(x, y) for x, y in loader]
            print(f"epoch {epoch} loss {sum(losses) / len(losses):.4f}")
        return losses[-1]

    @torch.no_grad()
    def accuracy(self, x, y):
        self.model.eval()
        return (self.model(x).argmax(1) == y).float().mean().item()


def main():
    torch.manual_seed(0)
    x = torch.randn(1024, 20, 1)
    y = (x.cumsum(1).amax(dim=(1, 2)) > 3.0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    trainer = Trainer(GRUClassifier())
    loss = trainer.fit(loader, epochs=3)
    print(f"final loss {loss:.4f} acc {trainer.accuracy(x, y):.3f}")


if __name__ == "__main__":
    main()
