"""MLP with a custom weight init, trained by a Trainer class."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, d_in=20, width=128, n_out=4):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(d_in, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, n_out),
        )
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            m.bias.data.fill_(-0.1)

    def forward(self, x):
        return self.layers(x)


class Trainer:
    def __init__(self, model, lr=1e-3):
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.crit = nn.CrossEntropyLoss()

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            for x, y in loader:
                self.opt.zero_grad()
                loss = self.crit(self.model(x), y)
                loss.backward()
                self.opt.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")
        return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    X = torch.randn(2048, 20)
    Y = (X[:, :8] @ torch.randn(8, 4)).argmax(1)
    model = Net()
    loss = Trainer(model).fit(DataLoader(TensorDataset(X, Y), batch_size=64, shuffle=True), epochs=4)
    with torch.no_grad():
        acc = (model(X).argmax(1) == Y).float().mean().item()
    print(f"final loss {loss:.4f} acc {acc:.3f}")
