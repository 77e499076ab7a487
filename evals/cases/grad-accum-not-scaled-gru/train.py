"""GRU regressor trained with gradient accumulation (micro-batches of 16) in a Trainer class, SGD."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class GRURegressor(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(2, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1]).squeeze(-1)


class Trainer:
    def __init__(self, model, lr=0.1, accumulate=8):
        self.model = model
        self.accumulate = accumulate
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def fit(self, loader, epochs):
        self.optimizer.zero_grad()
        for epoch in range(epochs):
            for i, (x, y) in enumerate(loader):
                loss = nn.functional.mse_loss(self.model(x), y)
                loss.backward()
                if (i + 1) % self.accumulate == 0:
                    self.optimizer.step()
                    self.optimizer.zero_grad()
            print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(4096, 12, 2)
    y = (x[:, :, 0] * x[:, :, 1]).sum(1) / 3
    trainer = Trainer(GRURegressor())
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), epochs=4)
    with torch.no_grad():
        mse = nn.functional.mse_loss(trainer.model(x), y).item()
    print(f"final mse {mse:.4f} (target variance {y.var().item():.3f})")
