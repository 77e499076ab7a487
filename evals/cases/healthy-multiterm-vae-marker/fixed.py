"""Healthy small VAE: reconstruction MSE plus a beta-weighted KL marked with traintriage.term (runs without it too)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from traintriage import term  # a no-op outside a traintriage probe
except ImportError:  # traintriage not installed: the marker is the identity

    def term(name, value):
        return value


class VAE(nn.Module):
    def __init__(self, d=16, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 2 * z))
        self.dec = nn.Sequential(nn.Linear(z, 64), nn.ReLU(), nn.Linear(64, d))

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        zs = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.dec(zs), mu, logvar


def main():
    torch.manual_seed(0)
    basis = torch.randn(4, 16)
    data = torch.randn(4096, 4) @ basis + 0.05 * torch.randn(4096, 16)
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    beta = 0.1
    for step in range(300):
        x = data[torch.randint(0, 4096, (128,))]
        recon, mu, logvar = model(x)
        rec = F.mse_loss(recon, x)
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=-1))
        loss = rec + beta * term("kl", kl)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} recon {rec.item():.4f} kl {kl.item():.4f}")


if __name__ == "__main__":
    main()
