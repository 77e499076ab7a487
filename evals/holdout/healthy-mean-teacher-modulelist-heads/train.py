"""Healthy control: multi-task student with nn.ModuleList heads plus an EMA "mean teacher" whose predictions
(computed under no_grad, so detached on purpose) give a consistency term; the teacher is not in the optimizer
by design and its weights are never trained by backprop."""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F


class Student(nn.Module):
    def __init__(self, n_in=20, n_tasks=3, n_classes=4, d=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 96), nn.ReLU(), nn.Linear(96, d), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(d, n_classes) for _ in range(n_tasks)])

    def forward(self, x):
        z = self.body(x)
        return [h(z) for h in self.heads]


def make_data(n, seed=0, n_in=20, n_tasks=3, n_classes=4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=g)
    ws = [torch.randn(n_in, n_classes, generator=torch.Generator().manual_seed(50 + t)) for t in range(n_tasks)]
    return x, [(x @ w).argmax(1) for w in ws]


@torch.no_grad()
def ema_update(teacher, student, decay=0.99):
    for pt, ps in zip(teacher.parameters(), student.parameters()):
        pt.mul_(decay).add_(ps, alpha=1 - decay)


def accuracy(model, x, ys):
    model.eval()
    with torch.no_grad():
        outs = model(x)
    return sum((o.argmax(1) == y).float().mean().item() for o, y in zip(outs, ys)) / len(ys)


if __name__ == "__main__":
    torch.manual_seed(0)
    x, ys = make_data(3000)
    xv, yvs = make_data(1000, seed=1)
    student = Student()
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(student.parameters(), lr=2e-3)
    step = 0
    for epoch in range(5):
        student.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            xb = x[idx]
            outs = student(xb + 0.1 * torch.randn_like(xb))
            with torch.no_grad():
                t_outs = teacher(xb + 0.1 * torch.randn_like(xb))
            sup = sum(F.cross_entropy(o, y[idx]) for o, y in zip(outs, ys)) / len(outs)
            cons = sum(F.mse_loss(o.softmax(1), t.softmax(1)) for o, t in zip(outs, t_outs)) / len(outs)
            loss = sup + 1.0 * cons
            opt.zero_grad()
            loss.backward()
            opt.step()
            ema_update(teacher, student)
            step += 1
        print(f"epoch {epoch} step {step} loss {loss.item():.4f} student {accuracy(student, xv, yvs):.3f} "
              f"teacher {accuracy(teacher, xv, yvs):.3f}")
    print(f"final val accuracy (teacher) {accuracy(teacher, xv, yvs):.3f}")
