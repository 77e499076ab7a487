"""MLP on synthetic 28x28 grey-scale 'images' stored as raw 0-255 pixel values."""
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset


class SimpleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(784, 128)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(self.flatten(x))))


def make_images(n):
    protos = torch.rand(10, 1, 28, 28)
    labels = torch.randint(0, 10, (n,))
    imgs = (0.5 * protos[labels] + 0.5 * torch.rand(n, 1, 28, 28)) * 255
    return imgs.round(), labels


if __name__ == "__main__":
    torch.manual_seed(0)
    train_data, train_labels = make_images(2048)
    loader = DataLoader(TensorDataset(train_data, train_labels), batch_size=64, shuffle=True)
    model = SimpleNet()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(4):
        for images, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(train_data).argmax(1) == train_labels).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")
