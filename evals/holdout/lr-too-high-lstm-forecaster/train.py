"""LSTM next-value forecaster on noisy multi-sine series; argparse defaults, loop in main()."""
import argparse
import math

import torch
import torch.nn as nn


def make_windows(n, window=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(window + 1).float()
    f1 = 0.2 + 0.3 * torch.rand(n, 1, generator=g)
    f2 = 0.05 + 0.1 * torch.rand(n, 1, generator=g)
    ph = 2 * math.pi * torch.rand(n, 2, generator=g)
    s = torch.sin(f1 * t + ph[:, :1]) + 0.5 * torch.sin(f2 * t + ph[:, 1:]) + 0.05 * torch.randn(n, window + 1, generator=g)
    return s[:, :-1, None], s[:, -1:]


class Forecaster(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def main():
    parser = argparse.ArgumentParser(description="train an LSTM forecaster")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    torch.manual_seed(0)
    x, y = make_windows(4096)
    xv, yv = make_windows(1024, seed=1)
    model = Forecaster()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    for step in range(args.steps):
        idx = torch.randint(0, len(x), (args.batch_size,))
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    with torch.no_grad():
        val = loss_fn(model(xv), yv).item()
    print(f"final val MSE {val:.4f} (predict-zero baseline {yv.pow(2).mean().item():.4f})")


if __name__ == "__main__":
    main()
