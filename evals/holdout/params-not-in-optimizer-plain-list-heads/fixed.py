"""Multi-task classifier: shared encoder plus one head per task, Trainer class with callbacks."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiTaskNet(nn.Module):
    def __init__(self, n_in=20, n_tasks=4, n_classes=5, d=16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, 64), nn.ReLU(), nn.Linear(64, d), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(d, n_classes) for _ in range(n_tasks)])

    def forward(self, x):
        z = self.encoder(x)
        return [head(z) for head in self.heads]


class PrintEvery:
    def __init__(self, every=50):
        self.every = every

    def on_step_end(self, trainer, step, loss):
        if step % self.every == 0:
            print(f"step {step:4d} loss {loss:.4f}")


class Trainer:
    def __init__(self, model, lr=3e-3, callbacks=()):
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.callbacks = list(callbacks)
        self.step = 0

    def train_step(self, x, ys):
        self.model.train()
        outs = self.model(x)
        loss = sum(F.cross_entropy(o, y) for o, y in zip(outs, ys)) / len(outs)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()

    def fit(self, x, ys, epochs=6, batch_size=64):
        n = x.shape[0]
        for _ in range(epochs):
            perm = torch.randperm(n)
            for i in range(0, n, batch_size):
                idx = perm[i:i + batch_size]
                loss = self.train_step(x[idx], [y[idx] for y in ys])
                self.step += 1
                for cb in self.callbacks:
                    cb.on_step_end(self, self.step, loss)

    @torch.no_grad()
    def evaluate(self, x, ys):
        self.model.eval()
        outs = self.model(x)
        return sum((o.argmax(1) == y).float().mean().item() for o, y in zip(outs, ys)) / len(ys)


def make_data(n, n_in=20, n_tasks=4, n_classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=g)
    teachers = [torch.randn(n_in, n_classes, generator=torch.Generator().manual_seed(100 + t)) for t in range(n_tasks)]
    return x, [(x @ w).argmax(1) for w in teachers]


if __name__ == "__main__":
    torch.manual_seed(0)
    x, ys = make_data(4096)
    xv, yvs = make_data(1024, seed=1)
    model = MultiTaskNet()
    trainer = Trainer(model, callbacks=[PrintEvery(100)])
    trainer.fit(x, ys)
    print(f"final val accuracy (mean over tasks) {trainer.evaluate(xv, yvs):.3f}")
