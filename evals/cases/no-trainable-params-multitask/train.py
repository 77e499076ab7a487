"""Two-task regression with learned uncertainty weighting (Kendall et al.), encoder meant to be frozen."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class MultiTaskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(16, 64), nn.Tanh())
        self.head_a = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
        self.head_b = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        h = self.encoder(x)
        return self.head_a(h).squeeze(-1), self.head_b(h).squeeze(-1)


class Trainer:
    def __init__(self, model, loader, lr=3e-3):
        self.model = model
        self.loader = loader
        self.log_vars = nn.Parameter(torch.zeros(2))
        # the encoder is 'pretrained': keep it fixed, train the heads and the task weights
        self.model.requires_grad_(False)
        self.optimizer = torch.optim.Adam(list(self.model.parameters()) + [self.log_vars], lr=lr)

    def step(self, x, ya, yb):
        pa, pb = self.model(x)
        la = ((pa - ya) ** 2).mean()
        lb = ((pb - yb) ** 2).mean()
        loss = torch.exp(-self.log_vars[0]) * la + torch.exp(-self.log_vars[1]) * lb + self.log_vars.sum()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return la.item() + lb.item()

    def fit(self, epochs):
        for epoch in range(epochs):
            total = sum(self.step(*batch) for batch in self.loader) / len(self.loader)
            print(f"epoch {epoch} task mse {total:.4f}")
        return total


if __name__ == "__main__":
    torch.manual_seed(0)
    X = torch.randn(2048, 16)
    ya = torch.sin(X[:, 0] * 2) + X[:, 1] * X[:, 2]
    yb = (X[:, 3:6] ** 2).sum(1) / 3 - 1
    loader = DataLoader(TensorDataset(X, ya, yb), batch_size=64, shuffle=True)
    trainer = Trainer(MultiTaskNet(), loader)
    mse = trainer.fit(epochs=5)
    print(f"final task mse {mse:.4f}")
