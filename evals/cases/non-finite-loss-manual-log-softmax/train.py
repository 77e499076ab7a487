"""MLP classifier with a hand-written soft-target cross-entropy (targets may come from mixup), DataLoader loop."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def soft_cross_entropy(logits, soft_targets):
    probs = torch.softmax(logits, dim=-1)
    log_probs = torch.log(probs)
    return -(soft_targets * log_probs).sum(1).mean()


def main():
    torch.manual_seed(0)
    centers = torch.randn(10, 32) * 4
    y = torch.randint(0, 10, (4096,))
    x = centers[y] + torch.randn(4096, 32)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(3):
        for xb, yb in loader:
            loss = soft_cross_entropy(model(xb), nn.functional.one_hot(yb, 10).float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
