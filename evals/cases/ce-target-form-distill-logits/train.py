"""Knowledge distillation, functional style: a small student learns from a frozen teacher's soft targets."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def distill_loss(student_logits, teacher_logits, T=2.0):
    # cross-entropy with soft targets (PyTorch >= 1.10 accepts class probabilities as the target)
    return F.cross_entropy(student_logits / T, teacher_logits / T)


def distill(student, teacher, x, steps=300, lr=2e-3):
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    for step in range(steps):
        xb = x[torch.randint(0, len(x), (128,))]
        with torch.no_grad():
            t = teacher(xb)
        loss = distill_loss(student(xb), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    teacher = mlp([16, 128, 128, 10])
    for p in teacher.parameters():
        p.data *= 1.5  # a confident 'pretrained' teacher
    student = mlp([16, 32, 10])
    x = torch.randn(4096, 16)
    loss = distill(student, teacher, x)
    with torch.no_grad():
        agree = (student(x).argmax(1) == teacher(x).argmax(1)).float().mean().item()
    print(f"final loss {loss:.4f} agreement {agree:.3f}")
