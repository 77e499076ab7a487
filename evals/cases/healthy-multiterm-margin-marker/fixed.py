"""Healthy classifier: cross-entropy plus a hand-written margin (hinge) term, marked with traintriage.term.

The marker is the identity outside a traintriage probe, and the script runs without traintriage installed.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from traintriage import term
except ImportError:  # traintriage not installed: the marker is the identity

    def term(name, value):
        return value


def margin_loss(logits, y, margin=1.0):
    correct = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
    return F.relu(margin - (correct - others)).mean()


def main():
    torch.manual_seed(0)
    W = torch.randn(12, 4)
    X = torch.randn(4096, 12)
    y = (X @ W).argmax(1)
    model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 4))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        idx = torch.randint(0, 4096, (128,))
        logits = model(X[idx])
        loss = F.cross_entropy(logits, y[idx]) + 0.5 * term("margin", margin_loss(logits, y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
