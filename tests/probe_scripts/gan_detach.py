"""A small GAN on a 2-D circle (issue 12: a generator step whose loss scores fake.detach(); D stepped first)."""
import copy
import sys

import torch
import torch.nn as nn

bug = "--detach-g" in sys.argv    # the generator's loss scores fake.detach(): no gradient reaches G
stale_copy = "--stale-copy" in sys.argv  # a different bug: G's optimizer holds a copy of G, not G
step_first = "--step-first" in sys.argv  # D steps before its backward; the next zero_grad wipes what it computed
torch.manual_seed(0)
Z, D_IN = 8, 2


def real_batch(n):
    t = torch.rand(n, 1) * 6.283
    return torch.cat([torch.cos(t), torch.sin(t)], 1) * 2 + 0.05 * torch.randn(n, 2)  # points on a circle


G = nn.Sequential(nn.Linear(Z, 64), nn.ReLU(), nn.Linear(64, D_IN))
D = nn.Sequential(nn.Linear(D_IN, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
opt_g = torch.optim.Adam((copy.deepcopy(G) if stale_copy else G).parameters(), lr=1e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()
for _ in range(200):
    real = real_batch(64)
    fake = G(torch.randn(64, Z))
    d_loss = bce(D(real), torch.ones(64, 1)) + bce(D(fake.detach()), torch.zeros(64, 1))
    opt_d.zero_grad()
    if step_first:
        opt_d.step()
    d_loss.backward()
    if not step_first:
        opt_d.step()
    g_loss = bce(D(fake.detach() if bug else fake), torch.ones(64, 1))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
with torch.no_grad():
    s = G(torch.randn(2000, Z))
    err = (s.norm(dim=1) - 2).abs().mean().item()  # distance of samples from the circle
print(f"final_rmse={err:.4f}")
