"""Plots of the STDP experiment: test accuracy of STDP features against random frozen features
per network and classifier, the firing rate of each layer during training, and the first
layer's kernels after STDP next to the random ones.

    python -m analysis.stdp runs/stdp      # → runs/stdp/plots/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurosnn.analysis.plot import save  # noqa: E402
from neurosnn.io.record import read_arrays  # noqa: E402


def plot_stdp(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    nets = json.loads((folder / "summary.json").read_text())["networks"]
    arrays, _ = read_arrays(folder / "stdp.h5")
    fig, (acc, rate) = plt.subplots(1, 2, figsize=(13, 4))
    labels, x, lowest = [], 0, 1.0
    for name, r in nets.items():
        for clf, s in r["stdp"]["classifiers"].items():
            c = r["random"]["classifiers"][clf]
            acc.bar(x - 0.2, s["accuracy"], 0.4, color="C0", label="STDP" if x == 0 else None)
            acc.bar(x + 0.2, c["accuracy"], 0.4, color="C7", label="random" if x == 0 else None)
            labels.append(f"{name}\n{clf}")
            lowest = min(lowest, s["accuracy"], c["accuracy"])
            x += 1
        for key, values in arrays[f"{name}.stdp"].items():
            if key.startswith("rate."):
                rate.plot(values, label=f"{name} {key[5:]}", lw=0.8)
    acc.set_xticks(range(len(labels)), labels, fontsize=8)
    acc.set_ylabel("test accuracy")
    acc.set_ylim(max(0.0, lowest - 0.1), 1)  # the differences are a few points
    acc.legend()
    rate.set_xlabel("training batch")
    rate.set_ylabel("spikes per neuron per step")
    rate.legend(fontsize=7)
    paths = [save(fig, out / "stdp.png")]
    first = next(iter(nets))
    kernels = {k: arrays[f"{first}.{k}"]["conv1.weight"] for k in ("stdp", "random")}
    n = min(16, len(kernels["stdp"]))
    fig, axes = plt.subplots(2, n, figsize=(n * 0.8, 2))
    for row, (kind, w) in enumerate(kernels.items()):
        for i in range(n):
            ax = axes[row, i]
            k = w[i].mean(0)  # channels averaged (1 for grey images)
            ax.imshow(k, cmap="bwr", vmin=-np.abs(k).max(), vmax=np.abs(k).max())
            ax.set_axis_off()
        axes[row, 0].set_title(f"{first} conv1 {kind}", fontsize=7, loc="left")
    paths.append(save(fig, out / "stdp_kernels.png"))
    return paths


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["stdp"], argv)


def run(job) -> int:
    args = job.plot
    for path in plot_stdp(args.folder, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
