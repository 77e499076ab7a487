"""House-price regression: standardised features, prices in dollars."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    torch.manual_seed(0)
    X = torch.randn(4096, 8)
    price = 350_000 + 90_000 * X[:, 0] + 40_000 * X[:, 1] * X[:, 2] + 25_000 * torch.tanh(X[:, 3])
    scale, offset = 1.0, 0.0
    targets = (price - offset) / scale
    loader = DataLoader(TensorDataset(X, targets), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(4):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(xb).squeeze(-1), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4g}")
    with torch.no_grad():
        pred = model(X).squeeze(-1) * scale + offset  # back to dollars
        rmse = ((pred - price) ** 2).mean().sqrt().item()
    print(f"final rmse ${rmse:,.0f} (price std ${price.std().item():,.0f})")


if __name__ == "__main__":
    main()
