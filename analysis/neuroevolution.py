"""Plots of a threshold search: thresholds beside the PCA significance (Fig. 2a), accuracy vs
timestep of the baseline and the optimised thresholds with iso-accuracy / iso-time markers
(Fig. 3), the cost per generation and the latency–accuracy frontier of both.

    python -m analysis.neuroevolution runs/fmnist_vgg9/ne      # → runs/fmnist_vgg9/ne/plots/
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

from neurosnn.errors import UserError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from neurosnn.analysis.frontier import plot_frontier  # noqa: E402
from neurosnn.analysis.plot import describe, save, zoom  # noqa: E402
from neurosnn.io.record import read_run, read_search  # noqa: E402


def plot_thresholds_vs_pca(search: dict, out: Path) -> Path:
    layers = search["layers"]
    x = np.arange(len(layers))
    best = search["best"]["candidate"][: len(layers)]  # then φ, where it was searched
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(x, best, color="tab:green", alpha=0.7, label="optimised threshold")
    ax.axhline(
        search["config"]["search"]["initial_percentile"], color="k", ls="--", lw=1, label="baseline"
    )
    ax.set_ylabel(
        "threshold (percentile)"
        if search["config"]["search"]["parameterisation"] == "percentile"
        else "threshold (× baseline)"
    )
    vals = [
        *best,
        search["config"]["search"]["initial_percentile"]
        if search["config"]["search"]["parameterisation"] == "percentile"
        else 1.0,
    ]
    span = (max(vals) - min(vals)) or 0.1
    ax.set_ylim(min(vals) - 0.5 * span, max(vals) + 0.3 * span)  # bars near 99.x stay visible
    ax.set_xticks(x, layers, rotation=45, ha="right")
    ax2 = ax.twinx()
    ax2.plot(
        x,
        search["significance"].get("percent_change", np.full(len(x), np.nan)),
        "o-",
        color="tab:purple",
        label="% change of PCs",
    )
    ax2.set_ylabel("% change of principal components")
    corr = search["metrics"].get("threshold_pca_correlation")
    ax.set_title(f"Thresholds vs PCA significance (correlation {corr:.2f})")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    return save(fig, out / "thresholds_vs_pca.png")


def plot_accuracy(search: dict, base, opt, out: Path) -> Path:
    m = search["metrics"]
    t = np.arange(1, opt.timesteps + 1)  # the baseline may run longer (the long target)
    fig, (ax, near) = plt.subplots(1, 2, figsize=(13, 4.5))
    ax.plot(t, 100 * base.accuracy[: opt.timesteps], label="uniform percentile (baseline)")
    ax.plot(t, 100 * opt.accuracy, label="optimised thresholds")
    target = 100 * m["iso_accuracy_target"]
    ax.axhline(target, color="gray", ls=":", lw=1, label=f"iso-accuracy target {target:.2f}%")
    for step, color, who in (
        (m["baseline_steps_to_target"], "tab:blue", "baseline"),
        (m["optimized_steps_to_target"], "tab:orange", "optimised"),
    ):
        if step is not None:
            ax.axvline(step, color=color, ls="--", lw=1, label=f"{who} reaches it: step {step}")
    imp = m["latency_improvement"]
    text = f"iso-accuracy ({target:.2f}%): {'n/a' if imp is None else f'{100 * imp:.1f}%'}"
    text += f" fewer steps\niso-time t={m['iso_time_step']}: "
    text += f"{100 * m['iso_time_accuracy_gain']:+.2f} points"
    ax.axvline(m["iso_time_step"], color="tab:red", ls=":", lw=1, label="iso-time step")
    ax.text(
        0.98,
        0.05,
        text,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=9,
        bbox={"facecolor": "white", "alpha": 0.8},
    )
    ax.set(
        xlabel="timestep",
        ylabel="test accuracy (%)",
        title=f"Accuracy vs timestep ({describe(opt)})",
    )
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
    zoom(ax, near, m.get("ann_accuracy"))
    return save(fig, out / "accuracy_baseline_vs_optimized.png")


def plot_cost(search: dict, out: Path) -> Path:
    h = search["history"]
    g = np.arange(1, len(h["best_cost"]) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(g, h["best_cost"], "o-", label="best")
    ax.plot(g, h["mean_cost"], "s--", label="population mean")
    objective = search["metrics"].get("objective", "eq11")
    ylabel = {"eq11": "cost (Eq. 11)", "steps-to-target": "cost (steps to the target)"}.get(
        objective, "cost (accuracy deficit)"
    )
    ax.set(xlabel="generation", ylabel=ylabel, title="Cost per generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(0.5, len(g) + 0.5)  # whole generations, also for one
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, out / "cost_per_generation.png")


def plot_search(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    """All plots of an experiments.neuroevolve output folder."""
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    out.mkdir(parents=True, exist_ok=True)
    search = read_search(folder / "search.h5")
    base, opt = read_run(folder / "baseline.h5"), read_run(folder / "optimized.h5")
    ann = base.metadata.get("ann_accuracy")
    return [
        plot_thresholds_vs_pca(search, out),
        plot_accuracy(search, base, opt, out),
        plot_cost(search, out),
        plot_frontier({"baseline": base, "optimised": opt}, out / "frontier.png", ann),
    ]


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["search"], argv)


def run(job) -> int:
    args = job.plot
    if not Path(args.folder).is_dir():
        raise SystemExit(
            f"error: {args.folder} is not a folder; give a search's output folder "
            "(experiments.neuroevolve --out)"
        )
    try:
        paths = plot_search(args.folder, args.out)
    except (FileNotFoundError, UserError) as err:
        raise SystemExit(f"error: {err}") from err
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
