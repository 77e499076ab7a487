"""Convolutional autoencoder; the summed L1 reconstruction error is squashed with tanh 'to bound the loss'."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.dec = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
                                 nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))

    def forward(self, x):
        return self.dec(self.enc(x))


class Trainer:
    def __init__(self, model, loader):
        self.model = model
        self.loader = loader
        self.recon = nn.L1Loss(reduction="sum")
        self.opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def loss(self, x):
        err = self.recon(self.model(x), x)
        return torch.tanh(err / 100.0)  # keeps the loss in [0, 1]

    def fit(self, epochs):
        for epoch in range(epochs):
            for (x,) in self.loader:
                loss = self.loss(x)
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    grid = torch.linspace(-1, 1, 16)
    freq = torch.rand(512, 1, 1, 1) * 3 + 1
    imgs = torch.sin(freq * grid.view(1, 1, 16, 1)) * torch.cos(freq * grid.view(1, 1, 1, 16))
    Trainer(AE(), DataLoader(TensorDataset(imgs), batch_size=32, shuffle=True)).fit(epochs=3)
