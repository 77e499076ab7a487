"""Physics-informed regression (Burgers-like): a data term and a PDE residual from autograd.grad, each written
loss_fn(target, prediction) (argument order swapped, harmless for MSE); the layers are called one by one and an
empty validation split is forwarded every step (it runs fine as plain Python)."""
import torch
import torch.nn as nn

torch.manual_seed(0)
xt = torch.rand(256, 2) * 2 - 1
u0 = -torch.sin(3.14159 * xt[:, :1])
xpde = torch.rand(256, 2) * 2 - 1
xval = torch.empty(0, 2)
layers = nn.ModuleList([nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 1)])
loss_fn = nn.MSELoss()


def forward(z):
    for lin in layers[:-1]:
        z = torch.tanh(lin(z))
    return layers[-1](z)


opt = torch.optim.Adam(layers.parameters(), lr=5e-4)
for _ in range(200):
    opt.zero_grad()
    x_ = xpde.clone().requires_grad_(True)
    u = forward(x_)
    du = torch.autograd.grad(u, x_, torch.ones_like(u), create_graph=True)[0]
    ddu = torch.autograd.grad(du, x_, torch.ones_like(du), create_graph=True)[0]
    res = du[:, [1]] + u * du[:, [0]] - 0.01 / 3.14159 * ddu[:, [0]]
    loss = loss_fn(u0, forward(xt)) + loss_fn(torch.zeros_like(res), res)
    loss.backward()
    opt.step()
    val_loss = loss_fn(xval[:, :1], forward(xval))  # grad on, never backpropagated; the mean of 0 elements: nan
print(f"final_loss={loss.item():.4f}")
