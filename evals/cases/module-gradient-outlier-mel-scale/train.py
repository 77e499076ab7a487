"""Small transformer over log-mel frames (keyword spotting), with a learnable per-mel-bin loudness weighting."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

N_MELS, FRAMES, CLASSES = 32, 20, 4


class KeywordModel(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.mel_scale = nn.Parameter(torch.randn(N_MELS))  # learnable per-bin weighting
        self.frontend = nn.Conv1d(N_MELS, d, kernel_size=3, padding=1)
        layer = nn.TransformerEncoderLayer(d, 4, 96, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, CLASSES)

    def forward(self, x):
        # x: (batch, time, n_mels), log-mel in dB (about -80 .. 0)
        x = x * self.mel_scale
        x = (x + 50.0) / 15.0  # rough global normalisation of the dB range
        h = self.frontend(x.transpose(1, 2)).transpose(1, 2)
        return self.head(self.encoder(h).mean(1))


def synthetic_logmel(n, generator):
    templates = torch.randn(CLASSES, 1, N_MELS, generator=torch.Generator().manual_seed(3)) * 2
    y = torch.randint(0, CLASSES, (n,), generator=generator)
    x = -50.0 + templates[y] + 6.0 * torch.randn(n, FRAMES, N_MELS, generator=generator)
    return x.clamp(-80.0, 0.0), y


def main():
    torch.manual_seed(0)
    x, y = synthetic_logmel(1536, torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = KeywordModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(3):
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
