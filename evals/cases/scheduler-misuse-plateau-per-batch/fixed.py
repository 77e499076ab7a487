"""GRU regressor (predict the sum of a noisy sequence) with ReduceLROnPlateau in a Trainer class."""
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
    def __init__(self, model, lr=1e-2):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.3, patience=3)

    def run_epoch(self, loader):
        total = 0.0
        for x, y in loader:
            loss = nn.functional.mse_loss(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        self.scheduler.step(total / len(loader))
        return total / len(loader)

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            avg = self.run_epoch(loader)
            print(f"epoch {epoch} loss {avg:.4f} lr {self.optimizer.param_groups[0]['lr']:.2e}")
        return avg


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2048, 15, 2)
    y = (x[:, :, 0] * x[:, :, 1]).sum(1) / 4
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    trainer = Trainer(GRURegressor())
    loss = trainer.fit(loader, epochs=6)
    print(f"final loss {loss:.4f} (target variance {y.var().item():.3f})")
