"""Denoising MLP trained with a custom per-sample L1 reconstruction loss, plain SGD."""
import torch
import torch.nn as nn


def l1_loss(recon, target):
    # per-sample L1 distance: sum over features of |recon - target|, written as sqrt of squares
    per_sample = torch.sqrt(((recon - target) ** 2).sum(dim=1) + 1e-8)
    return per_sample.mean()


if __name__ == "__main__":
    torch.manual_seed(0)
    D = 256
    basis = torch.randn(8, D)
    clean = torch.randn(4096, 8) @ basis / 8**0.5
    noisy = clean + 0.3 * torch.randn_like(clean)

    model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, D))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    for step in range(300):
        idx = torch.randint(0, len(clean), (64,))
        loss = l1_loss(model(noisy[idx]), clean[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")

    with torch.no_grad():
        mae = (model(noisy) - clean).abs().mean().item()
        baseline = clean.abs().mean().item()
    print(f"final mae {mae:.4f} (predicting zeros gives {baseline:.4f})")
