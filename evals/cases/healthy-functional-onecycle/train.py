"""Healthy control: functional-style regression with standardised inputs and targets, OneCycleLR stepped per batch."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


def standardise(t):
    mean, std = t.mean(0), t.std(0)
    return (t - mean) / std, mean, std


def make_model(d_in):
    return nn.Sequential(nn.Linear(d_in, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))


def train(model, x, y, steps, lr):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for step in range(steps):
        idx = torch.randint(0, len(x), (128,))
        loss = F.mse_loss(model(x[idx]).squeeze(-1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    return loss.item()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-2)
    args = ap.parse_args()
    torch.manual_seed(0)
    raw_x = torch.randn(4096, 6) * torch.tensor([1.0, 10.0, 100.0, 0.1, 5.0, 50.0]) + 20.0
    price = 300_000 + 2_000 * raw_x[:, 1] + 150 * raw_x[:, 2] + 40_000 * torch.sin(raw_x[:, 0])
    x, _, _ = standardise(raw_x)
    y, y_mean, y_std = standardise(price)
    model = make_model(x.shape[1])
    loss = train(model, x, y, args.steps, args.lr)
    with torch.no_grad():
        rmse = ((model(x).squeeze(-1) * y_std + y_mean - price) ** 2).mean().sqrt().item()
    print(f"final loss {loss:.4f} rmse {rmse:,.0f} (price std {price.std().item():,.0f})")
