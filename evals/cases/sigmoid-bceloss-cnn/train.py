"""Multi-label CNN (which of 4 patterns are present?) trained by a Trainer class."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class MultiLabelCNN(nn.Module):
    def __init__(self, n_labels=4):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
        )
        self.fc = nn.Linear(32, n_labels)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return self.act(self.fc(self.conv(x).flatten(1)))


class Trainer:
    def __init__(self, model, lr=2e-3):
        self.model = model
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            self.model.train()
            for x, y in loader:
                self.optimizer.zero_grad()
                loss = self.criterion(self.model(x), y)
                loss.backward()
                self.optimizer.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")
        return loss.item()


def make_data(n):
    patterns = torch.randn(4, 1, 4, 4)
    x = 0.5 * torch.randn(n, 1, 12, 12)
    y = (torch.rand(n, 4) < 0.4).float()
    for i in range(n):
        for k in range(4):
            if y[i, k]:
                r, c = torch.randint(0, 9, (2,)).tolist()
                x[i, :, r : r + 4, c : c + 4] += 2 * patterns[k]
    return x, y


if __name__ == "__main__":
    torch.manual_seed(0)
    x, y = make_data(1024)
    model = MultiLabelCNN()
    loss = Trainer(model).fit(DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True), epochs=5)
    model.eval()
    with torch.no_grad():
        scores = model(x)
        acc = ((scores > scores.median()) == y.bool()).float().mean().item()
    print(f"final loss {loss:.4f} label_acc {acc:.3f}")
