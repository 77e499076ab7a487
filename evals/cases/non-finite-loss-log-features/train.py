"""Count-valued features (e.g. clicks per day), log-transformed, linear-ish model; plain loop."""
import torch
import torch.nn as nn

torch.manual_seed(0)
rates = torch.rand(4096, 12) * 5
counts = torch.poisson(rates)  # some counts are exactly zero
y = (rates[:, :4].log().sum(1) > 0.5).float()

features = torch.log(counts)
features = (features - features[torch.isfinite(features)].mean()) / 2.0

model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(300):
    idx = torch.randint(0, len(features), (64,))
    logits = model(features[idx]).squeeze(1)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, y[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        print(f"step {step} loss {loss.item():.4f}")

with torch.no_grad():
    acc = ((model(features).squeeze(1) > 0).float() == y).float().mean().item()
print(f"final loss {loss.item():.4f} acc {acc:.3f}")
