"""Healthy multi-task MLP: one trunk, a classification head and a regression head on related targets."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.cls = nn.Linear(32, 3)
        self.reg = nn.Linear(32, 1)

    def forward(self, x):
        h = self.trunk(x)
        return self.cls(h), self.reg(h)


def main():
    torch.manual_seed(0)
    X = torch.randn(2048, 10)
    score = X[:, 0] + 0.5 * X[:, 1]
    y_cls = torch.bucketize(score, torch.tensor([-0.5, 0.5]))
    y_reg = (score + 0.1 * X[:, 2]).unsqueeze(1)
    model = TwoHeads()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        idx = torch.randint(0, 2048, (128,))
        logits, r = model(X[idx])
        loss = F.cross_entropy(logits, y_cls[idx]) + F.mse_loss(r, y_reg[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
