"""Deep ReLU MLP left at PyTorch's default Linear init, full-batch training on a small dummy problem."""
import torch
import torch.nn as nn
import torch.optim as optim


class DeepNet(nn.Module):
    def __init__(self, depth=12, width=100):
        super().__init__()
        dims = [10] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(width, 2)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


if __name__ == "__main__":
    torch.manual_seed(0)
    inputs = torch.randn(256, 10)
    targets = (inputs[:, 0] * inputs[:, 1] > 0).long()
    model = DeepNet()
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(200):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if epoch % 40 == 0:
            print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(inputs).argmax(1) == targets).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")
