"""Your own residual network, converted: a small ResNet in plain PyTorch, trained briefly on
Fashion-MNIST with a plain loop, converted from its DataLoader, simulated with and without the
one-step-per-connection delay, run in your own loop as a torch module, saved, loaded in a new
process (which has none of this code), exported to NIR, and compared with the paper's uniform
baseline step by step (OUT/accuracy.png).

    python examples/own_model.py [DATA_ROOT] [OUT]   # DATA_ROOT: a Fashion-MNIST IDX folder
"""

import subprocess
import sys
from pathlib import Path

import matplotlib
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import neurosnn as ns
from neurosnn.simulation.curve import iso_accuracy_step

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 32, 2))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


def loader(split, n: int, shuffle: bool) -> DataLoader:
    """``n`` seeded images of ``split``, normalised (NIR has no node for a normalisation
    inside the model: keep it in the data to export)."""
    part = split.random_subset(min(n, len(split)), 0)
    images = part.normalise(part.images)
    return DataLoader(TensorDataset(images, part.labels), batch_size=128, shuffle=shuffle)


root = sys.argv[1] if len(sys.argv) > 1 else None  # None: Debian's dataset-fashion-mnist
out = Path(sys.argv[2] if len(sys.argv) > 2 else "runs/example_resnet")
data = ns.load_dataset("fashion-mnist", root)
train, test = loader(data.train, 20000, True), loader(data.test, 500, False)
torch.manual_seed(0)
model = SmallResNet()
optimiser = torch.optim.Adam(model.parameters(), 2e-3)
for _ in range(2):
    for x, y in train:
        optimiser.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimiser.step()
model.eval()
with torch.no_grad():
    ann = sum(int((model(x).argmax(1) == y).sum()) for x, y in test) / len(test.dataset)

# from (x, y) batches; every neuron starts half-way to its threshold (phi = 0.5, Bu et al.)
calibration = loader(data.train, 2000, False)
snn = ns.convert(model, calibration, (1, 28, 28), phi=0.5)
print(f"ANN {ann:.4f}; layers {len(snn.layer_names)}, longest path {snn.depth}")
print("the last block sums", snn.sources("blocks.2.conv2"))
for delay in ("layer", "none"):
    run = ns.simulate(snn, test, 100, delay=delay, bias_onset="input")
    near = (run.accuracy >= ann - 0.01).nonzero()
    steps = int(near[0]) + 1 if len(near) else None
    print(f"delay {delay}: SNN {float(run.accuracy[-1]):.4f} at T=100, ANN-1% from step {steps}")

net = ns.SNNModule(snn, delay="none")  # the SNN in your own loop, one step per call
correct = 0
for x, y in test:
    net.reset()
    for _ in range(100):
        potential = net(x)
    correct += int((potential.argmax(1) == y).sum())
print(f"own loop: {correct / len(test.dataset):.4f} at T=100")

out.mkdir(parents=True, exist_ok=True)
path = ns.save_snn(out / "resnet.snn.h5", snn, {"model": "examples/own_model.py"})
check = f"import neurosnn as ns; print(ns.load_snn({str(path)!r})[0].thresholds)"
loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
print("loaded in a new process:", loaded.stdout.strip() == str(snn.thresholds))
ns.write_nir(out / "resnet.nir", snn)

# the paper's uniform baseline (no phi, biases from step 1) against the recipe, step by step
base = ns.simulate(ns.convert(model, calibration, (1, 28, 28)), test, 100)
fast = ns.simulate(snn, test, 100, bias_onset="input")
first = {
    n: iso_accuracy_step(r.accuracy.numpy(), ann - 0.01)
    for n, r in [("base", base), ("fast", fast)]
}
print(
    f"with the layer delay, ANN-1% from step {first['base']} (baseline), {first['fast']} (recipe)"
)
plt.plot(range(1, 101), 100 * base.accuracy, label="uniform 99.7 percentile (the paper's baseline)")
plt.plot(range(1, 101), 100 * fast.accuracy, label="phi = 0.5 + bias onset (the recipe)")
plt.axhline(100 * (ann - 0.01), ls=":", c="grey", label="ANN − 1%")
plt.xlabel("timestep (one step of delay per layer)")
plt.ylabel("test accuracy (%)")
plt.legend()
plt.savefig(out / "accuracy.png", dpi=120)
