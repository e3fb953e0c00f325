"""Getting started: a CNN of your own, trained for a minute, converted to an SNN, simulated,
sped up with a recipe, saved, loaded back and exported to NIR.

    python examples/getting_started.py [DATA_ROOT] [OUT]   # DATA_ROOT: Fashion-MNIST IDX files
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import neurosnn as ns

root = sys.argv[1] if len(sys.argv) > 1 else "data/fashion-mnist-subset"  # shipped with neurosnn
out = Path(sys.argv[2] if len(sys.argv) > 2 else "runs/getting_started")
data = ns.load_dataset("fashion-mnist", root)  # normalised batches: data.train.batches(64)

# 1. Your model, trained as you train it (here one epoch of plain PyTorch).
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
    nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
)  # fmt: skip
optimiser = torch.optim.Adam(model.parameters(), 2e-3)
for x, y in data.train.batches(64, shuffle=True):
    optimiser.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimiser.step()
model.eval()
with torch.no_grad():
    ann = sum(int((model(x).argmax(1) == y).sum()) for x, y in data.test.batches(250))
print(f"ANN accuracy {ann / len(data.test):.3f}")

# 2. Convert: each layer's threshold at the 99.7th percentile of its activations.
calibration = list(data.train.random_subset(1000, 0).batches(250))
snn = ns.convert(model, calibration, (1, 28, 28))
print("layers", snn.layer_names, "thresholds", [round(t, 2) for t in snn.thresholds])

# 3. Simulate: the accuracy at every step, with one step of delay per layer (the paper's
# counting) and without it (the field's).
for delay in ("layer", "none"):
    run = ns.simulate(snn, data.test.batches(250), 64, delay=delay)
    print(f"delay {delay}: accuracy at t=5 {run.accuracy[4]:.3f}, at T=64 {run.accuracy[-1]:.3f}")

# 4. A low-latency recipe: every neuron starts half-way to its threshold and each layer's bias
# waits for its input (`neurosnn latency --list-recipes` explains every token).
recipe = ns.Recipe.parse("phi=0.5+onset")
fast = recipe.convert(model, calibration, (1, 28, 28))
run = ns.simulate(fast, data.test.batches(250), 64, delay="layer", bias_onset="input")
print(f"{recipe}: accuracy at t=5 {run.accuracy[4]:.3f}, at T=64 {run.accuracy[-1]:.3f}")

# 5. Keep it: a self-contained file (no model code needed to load it) and NIR.
out.mkdir(parents=True, exist_ok=True)
ns.save_snn(out / "mine.snn.h5", fast, {"dataset": "fashion-mnist", "recipe": str(recipe)})
again, meta = ns.load_snn(out / "mine.snn.h5")
print("loaded back:", again.thresholds == fast.thresholds, meta["source"]["recipe"])
ns.write_nir(out / "mine.nir", fast)
print("NIR layers:", len(ns.read_nir(out / "mine.nir")[0].layer_names))
