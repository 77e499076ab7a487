"""GRU forecaster for daily energy load (MWh) with a Trainer class."""
import torch
import torch.nn as nn


class LoadForecaster(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1]).squeeze(-1)


class Trainer:
    def __init__(self, model, target_mean=0.0, target_std=1.0, lr=3e-3):
        self.model = model
        self.mu, self.sigma = target_mean, target_std
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)

    def fit(self, x, y, steps=250, bs=64):
        for step in range(steps):
            idx = torch.randint(0, len(x), (bs,))
            pred = self.model(x[idx])
            loss = nn.functional.mse_loss(pred, (y[idx] - self.mu) / self.sigma)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            if step % 50 == 0:
                print(f"step {step} loss {loss.item():.4g}")

    @torch.no_grad()
    def predict(self, x):
        return self.model(x) * self.sigma + self.mu


if __name__ == "__main__":
    torch.manual_seed(0)
    n, T = 2048, 24
    t = torch.arange(T + 1).float()
    phase = torch.rand(n, 1) * 6.28
    load = 5_000 + 1_200 * torch.sin(t * 0.26 + phase) + 150 * torch.randn(n, T + 1)  # MWh
    x = ((load[:, :T] - 5_000) / 1_200).unsqueeze(-1)  # inputs are standardised
    y = load[:, T]
    trainer = Trainer(LoadForecaster(), target_mean=y.mean().item(), target_std=y.std().item())
    trainer.fit(x, y)
    mae = (trainer.predict(x) - y).abs().mean().item()
    print(f"final mae {mae:.1f} MWh (target std {y.std().item():.1f})")
