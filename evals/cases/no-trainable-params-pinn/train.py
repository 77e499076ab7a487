"""Physics-informed net for u'' = -pi^2 sin(pi x) on [0, 1], u(0) = u(1) = 0, warm-started from a checkpoint."""
import math

import torch
import torch.nn as nn


def make_model():
    return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))


def freeze_(module):
    for p in module.parameters():
        p.requires_grad_(False)


def pde_residual(model, x):
    x = x.requires_grad_(True)
    u = model(x)
    du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    d2u = torch.autograd.grad(du.sum(), x, create_graph=True)[0]
    return d2u + math.pi**2 * torch.sin(math.pi * x)


def train(model, steps=300, lr=3e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    bc = torch.tensor([[0.0], [1.0]])
    for step in range(steps):
        x = torch.rand(128, 1)
        loss = pde_residual(model, x).pow(2).mean() + model(bc).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    model = make_model()
    # the first layer was fit on a coarser problem; keep it as a fixed feature map
    freeze_(model)
    loss = train(model)
    xs = torch.linspace(0, 1, 101).unsqueeze(1)
    with torch.no_grad():
        err = (model(xs) - torch.sin(math.pi * xs)).abs().max().item()
    print(f"final loss {loss:.4f} max_err {err:.3f}")
