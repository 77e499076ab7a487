"""Transformer regressor (predict a sequence's log-'price') with a Trainer class and AdamW."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

WEIGHT_DECAY = 2.0  # strong decoupled decay, as in grokking-style recipes


class Regressor(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.inp = nn.Linear(4, d)
        layer = nn.TransformerEncoderLayer(d, 4, dim_feedforward=64, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, 1)

    def forward(self, x):
        return self.out(self.norm(self.encoder(self.inp(x))).mean(1)).squeeze(-1)


class Trainer:
    def __init__(self, model, lr=3e-3):
        self.model = model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            for x, y in loader:
                loss = nn.functional.mse_loss(self.model(x), y)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2048, 10, 4)
    y = 6.0 + x[:, :, 0].mean(1) * 2 + x[:, :, 1].amax(1) * 0.5  # log-prices sit around 6-7
    trainer = Trainer(Regressor())
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True), epochs=5)
    with torch.no_grad():
        mse = nn.functional.mse_loss(trainer.model(x), y).item()
    print(f"final mse {mse:.4f}")
