"""VAE on synthetic 28x28 images: the reconstruction loss is summed over every pixel of the batch
(F.binary_cross_entropy(..., reduction='sum') with the legacy size_average=False spelling under --legacy) plus a
summed KL term: its value at init is N*ln(2) for N pixels, not ln(2)."""
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

warnings.simplefilter("ignore")
torch.manual_seed(0)
protos = torch.rand(10, 784)
x = (protos[torch.randint(0, 10, (1024,))] + 0.1 * torch.randn(1024, 784)).clamp(0, 1)
dl = DataLoader(TensorDataset(x), batch_size=64, shuffle=True)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 128), nn.Linear(128, 8), nn.Linear(128, 8)
        self.fc4, self.fc5 = nn.Linear(8, 128), nn.Linear(128, 784)

    def forward(self, v):
        h = F.relu(self.fc1(v))
        mu, log_var = self.fc2(h), self.fc3(h)
        z = mu + torch.randn_like(mu) * torch.exp(log_var / 2)
        return torch.sigmoid(self.fc5(F.relu(self.fc4(z)))), mu, log_var


model = VAE()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for _ in range(3):
    for (xb,) in dl:
        rec, mu, log_var = model(xb)
        if "--legacy" in sys.argv:
            rl = F.binary_cross_entropy(rec, xb, size_average=False)
        else:
            rl = F.binary_cross_entropy(rec, xb, reduction="sum")
        kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
        loss = rl + kl
        opt.zero_grad()
        loss.backward()
        opt.step()
print(f"final_loss={loss.item() / len(xb):.2f}")
