"""Plots of an experiments.latency folder: the latency–accuracy frontier of every recipe and
their accuracy curves over the first timesteps.

    python -m analysis.latency runs/latency_vgg9/fmnist_vgg9      # → .../plots/
    python -m analysis.latency runs/latency_resnet20/fmnist_resnet20_s0 --delay none
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

from neurosnn.errors import UserError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurosnn.analysis.frontier import plot_frontier  # noqa: E402
from neurosnn.analysis.plot import save, zoom  # noqa: E402
from neurosnn.io.record import read_run  # noqa: E402


def plot_latency(paths: dict[str, Path], out: Path, steps: int = 64) -> list[Path]:
    """``frontier.png`` and ``accuracy.png`` (the first ``steps`` timesteps) of the runs."""
    runs = {name: read_run(path) for name, path in paths.items()}
    ann = next(iter(runs.values())).metadata.get("ann_accuracy")
    frontier = plot_frontier(runs, out / "frontier.png", ann)
    fig, (ax, near) = plt.subplots(1, 2, figsize=(13, 4.5))
    shown = min(steps, max(r.timesteps for r in runs.values()))
    for name, run in runs.items():
        n = min(steps, run.timesteps)
        longer = f" (runs to T = {run.timesteps})" if run.timesteps > shown else ""
        ax.plot(np.arange(1, n + 1), 100 * run.accuracy[:n], label=name + longer, lw=1.3)
    if ann is not None:
        ax.axhline(100 * ann, color="k", ls="--", lw=1, label=f"ANN ({100 * ann:.2f}%)")
    first = next(iter(runs.values()))
    dataset = first.metadata.get("dataset") or first.config.get("dataset") or "test set"
    ax.set(
        xlabel="timestep",
        ylabel="test accuracy (%)",
        title=f"Accuracy per step, t = 1–{shown} ({dataset}, {first.n_images:,} test images)",
    )
    ax.set_xlim(0, shown + 1)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    zoom(ax, near, ann)
    return [frontier, save(fig, out / "accuracy.png")]


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["latency"], argv)


def run(job) -> int:
    args = job.plot
    folder = Path(args.folder)
    if not folder.is_dir():
        raise SystemExit(f"error: {folder} is not a folder; give one checkpoint's latency folder")
    # run records only (the recipes' saved SNNs, RECIPE.snn.h5, lie beside them); a graph's
    # runs without the layer delay are RECIPE.delay-none.h5
    suffix = ".delay-none.h5"
    paths = {
        p.name.removesuffix(suffix).removesuffix(".h5"): p
        for p in sorted(folder.glob("*.h5"))
        if not p.name.endswith(".snn.h5") and p.name.endswith(suffix) == (args.delay == "none")
    }
    if not paths:
        raise SystemExit(f"error: no run records (*.h5) with delay {args.delay} in {folder}")
    try:
        out = Path(args.out) if args.out else folder / "plots"
        for path in plot_latency(paths, out, args.steps):
            print(path)
    except (FileNotFoundError, UserError) as err:
        raise SystemExit(f"error: {err}") from err
    return 0


if __name__ == "__main__":
    sys.exit(main())
