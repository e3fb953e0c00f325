"""Plots of the threshold-search vs BPTT comparison (Lu & Sengupta Fig. 4 and Fig. 5).

python -m analysis.bptt runs/fmnist_vgg9/bptt      # → runs/fmnist_vgg9/bptt/plots/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurosnn.analysis.plot import save  # noqa: E402


def plot_accuracy(summary: dict, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in summary["accuracy"].items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
    ax.set_xlabel("timestep")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("conversion vs threshold search vs BPTT fine-tuning (same start)")
    return save(fig, out / "accuracy_conversion_search_bptt.png")


def plot_cost(summary: dict, out: Path) -> Path:
    rows = summary["cost"]
    x = np.arange(len(rows))
    labels = [f"T={r['timesteps']}" for r in rows]
    fig, (mem, sec) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, unit, scale in (
        (mem, "peak_bytes", "peak memory per batch (MiB)", 2**20),
        (sec, "seconds_per_batch", "time per batch (s)", 1),
    ):
        ax.bar(x - 0.2, [r[f"inference_{key}"] / scale for r in rows], 0.4, label="SNN inference")
        ax.bar(x + 0.2, [r[f"bptt_{key}"] / scale for r in rows], 0.4, label="BPTT")
        ax.set_xticks(x, labels)
        ax.set_ylabel(unit)
        ax.legend()
    fig.suptitle(f"batch {rows[0]['batch']}, device {summary['device']}")
    return save(fig, out / "memory_time_per_batch.png")


def plot_bptt(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    summary = json.loads((folder / "summary.json").read_text())
    return [plot_accuracy(summary, out), plot_cost(summary, out)]


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["bptt"], argv)


def run(job) -> int:
    args = job.plot
    for path in plot_bptt(args.folder, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
