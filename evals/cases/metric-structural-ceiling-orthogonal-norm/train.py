"""Classifier over a learned orthogonal feature rotation, plus a term asking the features to have unit norm."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import orthogonal


class RotNet(nn.Module):
    def __init__(self, d=16, classes=4):
        super().__init__()
        self.rot = orthogonal(nn.Linear(d, d, bias=False))  # a rotation: preserves every vector's norm
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        z = self.rot(x)
        return self.head(z), z


def main():
    torch.manual_seed(0)
    X = torch.randn(1024, 16) * 2.0
    y = X[:, :4].argmax(1)
    model = RotNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(200):
        idx = torch.randint(0, 1024, (128,))
        logits, z = model(X[idx])
        task = F.cross_entropy(logits, y[idx])
        norm_term = F.mse_loss(z.norm(dim=1), torch.ones(128))  # want unit-norm features
        loss = task + 0.5 * norm_term
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 40 == 0:
            print(f"step {step} task {task.item():.3f} norm term {norm_term.item():.3f}")


if __name__ == "__main__":
    main()
