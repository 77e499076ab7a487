"""Dense autoencoder on data lying near a 4-D subspace; the update lives in a train_step() helper that returns the loss."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def make_data(n, dim=32, latent=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(latent, dim, generator=torch.Generator().manual_seed(42))
    z = torch.randn(n, latent, generator=g)
    return torch.tanh(z @ mix / 2) + 0.05 * torch.randn(n, dim, generator=g)


def build_autoencoder(dim=32, bottleneck=6):
    encoder = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, bottleneck))
    decoder = nn.Sequential(nn.Linear(bottleneck, 64), nn.GELU(), nn.Linear(64, dim))
    return nn.Sequential(encoder, decoder)


def train_step(model, optimizer, batch):
    recon = model(batch)
    loss = F.mse_loss(recon, batch)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.detach()


def evaluate(model, data):
    with torch.no_grad():
        return F.mse_loss(model(data), data).item()


if __name__ == "__main__":
    torch.manual_seed(0)
    train, val = make_data(4096), make_data(1024, seed=1)
    model = build_autoencoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(5):
        for batch in train[torch.randperm(len(train))].split(64):
            loss = train_step(model, optimizer, batch)
        print(f"epoch {epoch} train_mse {loss.item():.4f} val_mse {evaluate(model, val):.4f}")
    print(f"final val reconstruction MSE {evaluate(model, val):.4f}")
