"""The main job from Python: train a small VGG9, convert it, search its thresholds and run the
low-latency recipe; print the steps each needs to come within 1% of the ANN.

    python examples/main_job.py [DATA_ROOT] [OUT]   # DATA_ROOT: a Fashion-MNIST IDX folder
"""

import sys

import torch

import neurosnn as ns
from neurosnn.config import DATASET_OPTIONS, LatencyConfig, TrainConfig, sized_search
from neurosnn.jobs.latency import measure_latency
from neurosnn.learn.train import train_ann

root = sys.argv[1] if len(sys.argv) > 1 else None  # None: Debian's dataset-fashion-mnist
out = sys.argv[2] if len(sys.argv) > 2 else "runs/example"
data = ns.load_dataset("fashion-mnist", root)
torch.manual_seed(0)
model = ns.create_network("vgg9", 10, 1, 28, **DATASET_OPTIONS["fashion-mnist"])
train_ann(model, data, TrainConfig(epochs=1), f"{out}/ann", progress=False)
cfg = LatencyConfig(
    recipes=("all", "all+search", "phi+onset"),
    timesteps=60,
    long_horizon=1,
    test_images=500,
    search=sized_search(population=5, generations=1, images=100),
)
report = measure_latency(model, data, cfg, f"{out}/latency", progress=False)
for r in report.results:
    print(r.recipe, r.metrics["steps_to_ann_minus_1pct"], r.metrics["accuracy_at_T"])
