"""Healthy classifier with a noise-consistency term, marked with traintriage.term (runs without traintriage too)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from traintriage import term  # a no-op outside a traintriage probe
except ImportError:  # traintriage not installed: the marker is the identity

    def term(name, value):
        return value


def main():
    torch.manual_seed(0)
    W = torch.randn(12, 4)
    X = torch.randn(4096, 12)
    y = (X @ W).argmax(1)
    model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 4))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        idx = torch.randint(0, 4096, (128,))
        x = X[idx]
        logits = model(x)
        noisy = model(x + 0.05 * torch.randn_like(x))
        consistency = (F.softmax(logits, -1) - F.softmax(noisy, -1)).pow(2).sum(-1).mean()
        loss = F.cross_entropy(logits, y[idx]) + 0.5 * term("consistency", consistency)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f} consistency {consistency.item():.5f}")


if __name__ == "__main__":
    main()
