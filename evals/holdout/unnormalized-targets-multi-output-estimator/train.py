"""Multi-output regression (three physical quantities on very different scales) behind a sklearn-style fit/predict estimator."""
import torch
import torch.nn as nn


def make_data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    power_w = 2500.0 + 800.0 * (x[:, 0] * x[:, 1] + torch.sin(2 * x[:, 2]))   # watts, ~1e3
    efficiency = 0.6 + 0.1 * torch.tanh(x[:, 3] - x[:, 4])                     # fraction, ~0.1
    leak_ma = 0.02 * (x[:, 5] ** 2 + x[:, 6])                                   # milliamps, ~0.01
    y = torch.stack([power_w, efficiency, leak_ma], dim=1)
    return x, y


class MLPRegressor:
    def __init__(self, hidden=64, lr=1e-3, epochs=8, batch_size=64):
        self.hidden, self.lr, self.epochs, self.batch_size = hidden, lr, epochs, batch_size

    def fit(self, x, y):
        self.net = nn.Sequential(nn.Linear(x.shape[1], self.hidden), nn.ReLU(),
                                 nn.Linear(self.hidden, self.hidden), nn.ReLU(),
                                 nn.Linear(self.hidden, y.shape[1]))
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        for epoch in range(self.epochs):
            perm = torch.randperm(len(x))
            for i in range(0, len(x), self.batch_size):
                idx = perm[i:i + self.batch_size]
                loss = nn.functional.mse_loss(self.net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            print(f"epoch {epoch} loss {loss.item():.4f}")
        return self

    @torch.no_grad()
    def predict(self, x):
        return self.net(x)


def r2_per_output(pred, y):
    return 1 - ((pred - y) ** 2).mean(0) / y.var(0)


if __name__ == "__main__":
    torch.manual_seed(0)
    x, y = make_data(3000)
    xv, yv = make_data(1000, seed=1)
    model = MLPRegressor().fit(x, y)
    r2 = r2_per_output(model.predict(xv), yv)
    print("val R2 per output", [round(v, 3) for v in r2.tolist()])
    print(f"final val mean R2 {r2.mean().item():.3f}")
