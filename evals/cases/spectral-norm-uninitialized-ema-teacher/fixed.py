"""Mean-teacher semi-supervised regression with spectral-normalized layers (a Lipschitz-bounded MLP).

The teacher is an exponential moving average of the student's parameters and only ever runs in eval mode;
on unlabeled inputs the student is pulled toward the teacher's predictions (consistency loss).
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
DIM = 16
W_TRUE = torch.randn(DIM, generator=torch.Generator().manual_seed(7)) / DIM ** 0.5


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=g)
    return x, 0.8 * torch.sin(x @ W_TRUE).unsqueeze(1) + 0.05 * torch.randn(n, 1, generator=g)


def mlp():
    sn = nn.utils.spectral_norm
    return nn.Sequential(sn(nn.Linear(DIM, 128)), nn.ReLU(), sn(nn.Linear(128, 128)), nn.ReLU(),
                         sn(nn.Linear(128, 1)))


student = mlp()
teacher = copy.deepcopy(student)
teacher.eval()
for p in teacher.parameters():
    p.requires_grad_(False)


@torch.no_grad()
def ema_update(decay=0.99):
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(decay).add_(s, alpha=1 - decay)
    for t, s in zip(teacher.buffers(), student.buffers()):  # spectral norm's u, v: the student's, iterated
        t.copy_(s)


x_lab, y_lab = data(128, 1)
x_unl, _ = data(2048, 2)
x_val, y_val = data(1024, 3)
opt = torch.optim.Adam(student.parameters(), lr=3e-3)
CONSISTENCY = 1.0  # weight of the pull toward the teacher on unlabeled inputs

for step in range(300):
    i = torch.randint(0, len(x_lab), (64,))
    j = torch.randint(0, len(x_unl), (128,))
    student.train()
    pred = student(x_lab[i])
    xu = x_unl[j]
    with torch.no_grad():
        target_u = teacher(xu + 0.05 * torch.randn_like(xu))
    ramp = min(1.0, step / 150) ** 2  # the usual mean-teacher ramp-up: labels first, then the teacher
    loss = F.mse_loss(pred, y_lab[i]) + CONSISTENCY * ramp * F.mse_loss(student(xu), target_u)
    opt.zero_grad()
    loss.backward()
    opt.step()
    ema_update()
    if step % 50 == 0:
        with torch.no_grad():
            val = F.mse_loss(student(x_val), y_val).item()
        print(f"step {step} loss {loss.item():.4f} student val mse {val:.4f}")

with torch.no_grad():
    val = F.mse_loss(student(x_val), y_val).item()
print(f"final student val mse {val:.4f} (target variance {y_val.var().item():.4f})")
