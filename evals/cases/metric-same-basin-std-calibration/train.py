"""1-D conv signal regressor with a trainer class; an extra term matches the spread of predictions to targets'."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class ConvReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.Conv1d(8, 8, 5, padding=2), nn.ReLU())
        self.fc = nn.Linear(8 * 32, 1)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


class Trainer:
    def __init__(self, model, loader):
        self.model, self.loader = model, loader
        self.fit_loss = nn.MSELoss()
        self.spread_loss = nn.L1Loss()
        self.opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def train(self, epochs):
        for epoch in range(epochs):
            for x, y in self.loader:
                pred = self.model(x)
                loss = self.fit_loss(pred, y) + 0.3 * self.spread_loss(pred.std(), y.std())
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    t = torch.linspace(0, 1, 32)
    amp = torch.rand(2048, 1) * 4 + 1
    sig = (amp * torch.sin(2 * torch.pi * 3 * t)).unsqueeze(1) + 0.05 * torch.randn(2048, 1, 32)
    loader = DataLoader(TensorDataset(sig, amp), batch_size=64, shuffle=True)
    Trainer(ConvReg(), loader).train(epochs=3)
