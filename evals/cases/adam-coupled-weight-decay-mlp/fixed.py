"""MLP regression in a functional style: init_params / forward / train_step."""
import torch
import torch.nn.functional as F


def init_params(sizes, generator):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = torch.randn(fan_in, fan_out, generator=generator) * (2.0 / fan_in) ** 0.5
        params += [w.requires_grad_(), torch.zeros(fan_out, requires_grad=True)]
    return params


def forward(params, x):
    for i in range(0, len(params) - 2, 2):
        x = F.relu(x @ params[i] + params[i + 1])
    return x @ params[-2] + params[-1]


def train_step(params, optimizer, x, y):
    loss = F.mse_loss(forward(params, x).squeeze(-1), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(4096, 8)
    y = 3.0 * torch.sin(X[:, 0]) * X[:, 1] + X[:, 2] ** 2
    params = init_params([8, 64, 64, 1], g)
    optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.1)
    for step in range(800):
        idx = torch.randint(0, len(X), (128,), generator=g)
        loss = train_step(params, optimizer, X[idx], y[idx])
        if step % 100 == 0:
            print(f"step {step} loss {loss:.4f}")
    with torch.no_grad():
        mse = F.mse_loss(forward(params, X).squeeze(-1), y).item()
    print(f"final mse {mse:.4f} (target variance {y.var().item():.3f})")
