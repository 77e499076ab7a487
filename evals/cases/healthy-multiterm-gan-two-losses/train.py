"""A GAN on a 2-D ring: the discriminator's loss is its real half plus its fake half; the generator has its own."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))
D = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))


def real_batch(n):
    a = torch.rand(n) * 2 * math.pi
    return torch.stack([a.cos(), a.sin()], 1) * 2 + 0.05 * torch.randn(n, 2)


for step in range(500):
    real = real_batch(128)
    fake = G(torch.randn(128, 4))
    ones, zeros = torch.ones(128, 1), torch.zeros(128, 1)
    d_real = F.binary_cross_entropy_with_logits(D(real), ones)
    d_fake = F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
    d_loss = d_real + d_fake
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    if step % 100 == 0:
        print(f"step {step} d {d_loss.item():.3f} g {g_loss.item():.3f}")
