"""Tone classifier on synthetic 1-D audio clips: a small Conv1d net, training loop in main() with argparse."""
import argparse
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_clips(n, length=256, n_classes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_classes, (n,), generator=g)
    t = torch.arange(length).float() / length
    freq = 4.0 + 3.0 * labels.float()                       # each class is a tone
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    clips = torch.sin(2 * math.pi * freq[:, None] * t[None, :] + phase)
    clips = clips + 0.8 * torch.randn(n, length, generator=g)
    return clips.unsqueeze(1), labels


class ToneNet(nn.Module):
    def __init__(self, n_classes=6):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 16, kernel_size=9, padding=4)
        self.conv2 = nn.Conv1d(16, 32, kernel_size=9, padding=4, stride=2)
        self.conv3 = nn.Conv1d(32, 32, kernel_size=9, padding=4, stride=2)
        self.fc = nn.Linear(32, n_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return self.fc(x.mean(-1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.02)
    args = p.parse_args()

    torch.manual_seed(0)
    x, y = make_clips(2048)
    xv, yv = make_clips(512, seed=1)
    model = ToneNet()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    step = 0
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            step += 1
        model.eval()
        with torch.no_grad():
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        print(f"epoch {epoch} step {step} loss {loss.item():.4f} val_acc {acc:.3f}")
    print(f"final val accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
