"""Curve fit trained by a single LBFGS.step(closure) with a strong-Wolfe line search: every backward() runs
inside that one step, as a closure evaluation."""
import torch
import torch.nn as nn

torch.manual_seed(0)
x = torch.linspace(-1, 1, 200).unsqueeze(1)
y = torch.sin(3 * x)
model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=300, line_search_fn="strong_wolfe")


def closure():
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss


opt.step(closure)
print(f"final_loss={closure().item():.5f}")
