"""A small VAE on 2-D mixtures: reconstruction + KL, both written by hand (the ELBO)."""
import torch
import torch.nn as nn

torch.manual_seed(0)
centers = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0]])
X = centers[torch.randint(0, 3, (2048,))] + 0.3 * torch.randn(2048, 2)
enc = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 4))
dec = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))
opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
for step in range(500):
    x = X[torch.randint(0, 2048, (128,))]
    mu, logvar = enc(x).chunk(2, dim=1)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    recon = ((dec(z) - x) ** 2).sum(1).mean()
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
    loss = recon + kl
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step} recon {recon.item():.3f} kl {kl.item():.3f}")
