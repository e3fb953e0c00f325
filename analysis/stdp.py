"""Plots of the STDP experiment: test accuracy of STDP features against the controls (random
frozen features, the pixels, the ANN of the same topology) per network and classifier, each
layer's firing rate, kernel change and kernel similarity during training, and the first
layer's kernels after STDP next to the random ones.

    python -m analysis.stdp runs/stdp      # → runs/stdp/plots/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurosnn.analysis.plot import save  # noqa: E402
from neurosnn.io.record import read_arrays  # noqa: E402

KINDS = {"stdp": ("STDP", "C0"), "random": ("random", "C7"), "pixels": ("pixels", "C2"),
         "ann": ("ANN", "C3")}  # fmt: skip


def plot_stdp(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    nets = json.loads((folder / "summary.json").read_text())["networks"]
    arrays, _ = read_arrays(folder / "stdp.h5")
    fig, ((acc, rate), (change, alike)) = plt.subplots(2, 2, figsize=(13, 8))
    labels, x, lowest = [], 0, 1.0
    for name, r in nets.items():
        kinds = [k for k in KINDS if k in r]  # runs before 0.3 have no pixels or ANN
        width = 0.8 / len(kinds)
        for clf in r["stdp"]["classifiers"]:
            for i, kind in enumerate(kinds):
                a = r[kind]["classifiers"][clf]["accuracy"]
                label, color = KINDS[kind]
                offset = (i - (len(kinds) - 1) / 2) * width
                acc.bar(x + offset, a, width, color=color, label=label if x == 0 else None)
                lowest = min(lowest, a)
            labels.append(f"{name}\n{clf}")
            x += 1
        for key, values in arrays[f"{name}.stdp"].items():
            series, _, layer = key.partition(".")
            if series == "rate":
                rate.plot(values, label=f"{name} {layer}", lw=0.8)
            elif series == "change":
                change.plot(values, label=f"{name} {layer}", lw=0.8)
            elif series == "similarity":
                alike.plot(values, label=f"{name} {layer}", lw=0.8)
    acc.set_xticks(range(len(labels)), labels, fontsize=8)
    acc.set_ylabel("test accuracy")
    acc.set_ylim(max(0.0, lowest - 0.1), 1)  # the differences are a few points
    acc.legend(fontsize=8)
    rate.set_ylabel("spikes per neuron per step")
    change.set_ylabel("kernels' relative change per batch")
    alike.set_ylabel("kernels' mean |cosine|")
    for ax in (rate, change, alike):
        ax.set_xlabel("training batch")
        if ax.lines:
            ax.legend(fontsize=7)
        else:  # a cache written before the convergence was recorded
            ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center")
    if change.lines:
        change.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 0.001, not 10^-3
        change.yaxis.set_major_formatter(plain)
        change.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
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
