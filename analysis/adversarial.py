"""Plots of an adversarial threshold search (Lu & Sengupta, Fig. 2b and Fig. 3 under attack):
layer-wise ANS of the ANN and of the SNN (baseline and optimised thresholds) with the optimised
thresholds on a second axis, and accuracy vs timestep on clean and FGSM inputs.

    python -m analysis.adversarial runs/fmnist_vgg9/adv      # → runs/fmnist_vgg9/adv/plots/
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
from neurosnn.io.record import read_run  # noqa: E402

RUNS = {  # file → (label, colour, line style)
    "clean_baseline.h5": ("baseline, clean", "tab:blue", "-"),
    "clean_optimized.h5": ("optimised, clean", "tab:red", "-"),
    "baseline.h5": ("baseline, FGSM", "tab:blue", "--"),
    "optimized.h5": ("optimised, FGSM", "tab:red", "--"),
}


def plot_ans(summary: dict, out: Path) -> Path:
    """Fig. 2b: ANS per layer (left axis) and the optimised thresholds (right axis)."""
    ans = summary["ans"]
    layers = ans["ann"]["layers"]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(8, 4))
    for key, label, colour in (
        ("ann", "ANN", "tab:blue"),
        ("snn_baseline", "SNN, baseline thresholds", "tab:gray"),
        ("snn_optimized", "SNN, optimised thresholds", "tab:red"),
    ):
        ax.errorbar(
            x,
            ans[key]["mean"],
            yerr=ans[key]["std"],
            label=label,
            color=colour,
            marker="o",
            capsize=3,
        )
    ax.set_ylabel("adversarial noise sensitivity (Eq. 14/15)")
    ax.set_xticks(x, layers, rotation=45, ha="right")
    second = ax.twinx()
    thresholds = summary.get("thresholds_percentile") or summary.get("thresholds_scale")
    second.plot(x, thresholds, color="tab:green", marker="s", label="optimised threshold")
    second.axhline(summary["initial_percentile"], color="tab:green", ls=":", lw=1)
    second.set_ylabel("optimised threshold", color="tab:green")
    handles = ax.get_legend_handles_labels()
    extra = second.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=8, loc="upper left")
    ax.set_title(f"FGSM ε = {summary['epsilon']:.4f}: layer-wise noise sensitivity")
    return save(fig, out / "ans_vs_thresholds.png")


def plot_curves(folder: Path, summary: dict, out: Path) -> Path:
    """Accuracy vs timestep of the baseline and optimised thresholds, clean and under attack."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (label, colour, style) in RUNS.items():
        run = read_run(folder / name)
        ax.plot(np.arange(1, run.timesteps + 1), run.accuracy, color=colour, ls=style, label=label)
    ax.axhline(summary["ann_clean_accuracy"], color="k", lw=1, label="ANN, clean")
    ax.axhline(summary["ann_adversarial_accuracy"], color="k", lw=1, ls="--", label="ANN, FGSM")
    ax.set_xlabel("timestep")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, out / "accuracy_clean_vs_adversarial.png")


def plot_adversarial(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    summary = json.loads((folder / "summary.json").read_text())
    return [plot_ans(summary, out), plot_curves(folder, summary, out)]


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["attack"], argv)


def run(job) -> int:
    args = job.plot
    for path in plot_adversarial(args.folder, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
