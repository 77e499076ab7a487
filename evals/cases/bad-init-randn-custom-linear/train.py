"""Hand-rolled linear layers in a functional style (params are plain tensors)."""
import torch
import torch.nn.functional as F


def init_layer(n_in, n_out):
    w = torch.randn(n_in, n_out)
    b = torch.zeros(n_out)
    return [w.requires_grad_(), b.requires_grad_()]


def forward(params, x):
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = torch.tanh(x @ w + b)
    return x @ w_out + b_out


if __name__ == "__main__":
    torch.manual_seed(0)
    X = torch.randn(4096, 64)
    Y = (X[:, :16] @ torch.randn(16, 8)).argmax(1)
    params = [init_layer(64, 256), init_layer(256, 256), init_layer(256, 8)]
    opt = torch.optim.Adam([p for layer in params for p in layer], lr=1e-3)
    for step in range(300):
        idx = torch.randint(0, len(X), (128,))
        loss = F.cross_entropy(forward(params, X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (forward(params, X).argmax(1) == Y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")
