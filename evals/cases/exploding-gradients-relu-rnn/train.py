"""ReLU RNN forecaster (next value of a noisy sine) with a Trainer class, identity-initialised recurrence (IRNN)."""
import torch
import torch.nn as nn


class Forecaster(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.rnn = nn.RNN(1, hidden, nonlinearity="relu", batch_first=True)
        nn.init.eye_(self.rnn.weight_hh_l0)
        self.rnn.weight_hh_l0.data *= 1.05
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.out(h).squeeze(-1)


class Trainer:
    def __init__(self, model, lr=1e-2):
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step(self, x, y):
        loss = nn.functional.mse_loss(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()


def batches(n_steps, bs=32, T=80):
    for _ in range(n_steps):
        phase = torch.rand(bs, 1) * 6.28
        t = torch.arange(T + 1).float() * 0.3
        s = torch.sin(t + phase) + 0.1 * torch.randn(bs, T + 1)
        yield s[:, :-1].unsqueeze(-1), s[:, 1:]


if __name__ == "__main__":
    torch.manual_seed(0)
    trainer = Trainer(Forecaster())
    for i, (x, y) in enumerate(batches(200)):
        loss = trainer.step(x, y)
        if i % 40 == 0:
            print(f"step {i} loss {loss:.4f}")
    with torch.no_grad():
        x, y = next(batches(1, bs=256))
        mse = nn.functional.mse_loss(trainer.model(x), y).item()
    print(f"final mse {mse:.4f}")
