"""A small classifier that can carry one seeded bug (``--bug NAME``); without --bug it is the fixed twin.

Each bug is the real mistake written the way people write it; the probe must find it from the run alone.
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ap = argparse.ArgumentParser()
ap.add_argument("--bug", default="")
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--workers", type=int, default=0)
a = ap.parse_args()
bug = a.bug
C, D = 5, 20


def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(C, D, generator=g) * 2
    y = torch.randint(0, C, (n,), generator=g)
    x = centers[y] + torch.randn(n, D, generator=g)
    return x, y


class Net(nn.Module):
    def __init__(self, depth=2, act=nn.ReLU):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(D) * 1e-3 if bug == "module-gradient-outlier" else torch.ones(D))
        layers, width = [], D
        for _ in range(depth):
            layers += [nn.Linear(width, 64), act()]
            width = 64
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(64, C)

    def forward(self, x):
        return self.head(self.drop(self.body(x * self.scale)))


def main():
    torch.manual_seed(0)
    x, y = make_data()
    if bug == "unnormalized-inputs":
        x = x * 60 + 128
    if bug == "label-leakage":
        x[:, 3] = y.float()
    if bug == "non-finite-loss":
        x[::7, 0] = float("nan")
    dl = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, num_workers=a.workers)
    if bug == "vanishing-gradients":
        model = Net(depth=12, act=nn.Sigmoid)
    elif bug == "saturated-activations":
        model = Net(depth=2, act=nn.Tanh)
        with torch.no_grad():
            model.body[0].weight.mul_(25)
    else:
        model = Net()
    if bug == "dead-relu":
        with torch.no_grad():
            model.body[0].bias.fill_(-30.0)
    if bug == "bad-init":
        with torch.no_grad():
            model.head.weight.mul_(60)
    if bug == "exploding-gradients":
        model = Net(depth=10, act=nn.Identity)
        with torch.no_grad():
            for m in model.body:
                if isinstance(m, nn.Linear):
                    m.weight.normal_(0, 0.6)
    if bug == "no-trainable-params":
        for p in model.parameters():
            p.requires_grad = False
    params = model.parameters()
    if bug == "params-not-in-optimizer":
        params = model.body.parameters()
    if bug == "lr-too-high":
        opt = torch.optim.SGD(params, lr=30.0)
    elif bug == "lr-too-low":
        opt = torch.optim.Adam(params, lr=1e-8)
    elif bug == "adam-coupled-weight-decay":
        opt = torch.optim.Adam(params, lr=1e-2, weight_decay=0.1)
    elif bug == "decay-on-norm-and-bias":
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.2)
    else:
        opt = torch.optim.Adam(params, lr=1e-2)
    sched = None
    if bug == "scheduler-misuse":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)  # meant per epoch
    model.train()
    if bug == "wrong-train-eval-mode":
        model.eval()
    it = iter(dl)
    stale = next(it)
    loss = torch.zeros(())
    for epoch in range(a.epochs):
        for xb, yb in (dl if bug != "stale-batch" else [stale] * len(dl)):
            if bug != "missing-zero-grad" and bug != "step-order":
                opt.zero_grad()
            if bug == "grad-accum-not-scaled":
                for _ in range(4):
                    F.cross_entropy(model(xb), yb).backward()  # never divided by 4
                opt.step()
                continue
            out = model(xb)
            if bug == "double-softmax":
                loss = F.cross_entropy(torch.softmax(out, -1), yb)
            elif bug == "nll-without-log-softmax":
                loss = F.nll_loss(out, yb)
            elif bug == "ce-target-form":
                loss = F.cross_entropy(out, F.one_hot(yb, C).float() * 0.9 + 0.1)
            elif bug == "loss-detached":
                loss = F.cross_entropy(out, yb)
                loss = torch.tensor(loss.item(), requires_grad=True)
            else:
                loss = F.cross_entropy(out, yb)
            loss.backward()
            if bug == "step-order":
                opt.zero_grad()
            opt.step()
            if sched is not None:
                sched.step()
        print("epoch", epoch, loss.item())


if __name__ == "__main__":
    main()
