"""Residual MLP on a synthetic spiral-like task; Trainer class with gradient accumulation and callbacks."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_spirals(n, n_arms=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_arms, (n,), generator=g)
    r = torch.rand(n, generator=g) * 3 + 0.2
    theta = r * 2.2 + y.float() * (2 * math.pi / n_arms) + 0.15 * torch.randn(n, generator=g)
    pts = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)
    extra = 0.3 * torch.randn(n, 6, generator=g)
    return torch.cat([pts, extra], 1), y


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))

    def forward(self, h):
        return h + self.ff(self.norm(h))


class ResMLP(nn.Module):
    def __init__(self, d_in=8, d=64, n_blocks=3, n_out=4):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = nn.Sequential(*[Block(d) for _ in range(n_blocks)])
        self.out = nn.Linear(d, n_out)

    def forward(self, x):
        return self.out(self.blocks(self.inp(x)))


class Callback:
    def on_epoch_end(self, trainer, epoch, logs):
        pass


class History(Callback):
    def __init__(self):
        self.rows = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.rows.append(logs)
        print(f"epoch {epoch} " + " ".join(f"{k} {v:.4f}" for k, v in logs.items()))


class Trainer:
    def __init__(self, model, lr=0.02, accumulate=8, micro_batch=16, callbacks=()):
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        self.accumulate = accumulate
        self.micro_batch = micro_batch
        self.callbacks = list(callbacks)

    def fit(self, x, y, xv, yv, epochs=6):
        for epoch in range(epochs):
            self.model.train()
            perm = torch.randperm(len(x))
            self.opt.zero_grad()
            for k, i in enumerate(range(0, len(x), self.micro_batch)):
                idx = perm[i:i + self.micro_batch]
                loss = F.cross_entropy(self.model(x[idx]), y[idx])
                loss.backward()
                if (k + 1) % self.accumulate == 0:
                    self.opt.step()
                    self.opt.zero_grad()
            logs = {"loss": loss.item(), "val_acc": self.evaluate(xv, yv)}
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch, logs)
        return logs

    @torch.no_grad()
    def evaluate(self, x, y):
        self.model.eval()
        return (self.model(x).argmax(1) == y).float().mean().item()


if __name__ == "__main__":
    torch.manual_seed(0)
    x, y = make_spirals(3072)
    xv, yv = make_spirals(1024, seed=1)
    trainer = Trainer(ResMLP(), callbacks=[History()])
    logs = trainer.fit(x, y, xv, yv)
    print(f"final val accuracy {logs['val_acc']:.3f}")
