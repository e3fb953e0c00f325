"""The latency–accuracy frontier of run records: for every target accuracy, the steps each run
needs to reach it (the whole "steps needed vs target" curve, not one iso-accuracy point).

    python -m analysis.frontier runs/lat/vgg9/baseline.h5 runs/lat/vgg9/best.h5 --out f.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

from neurosnn.errors import UserError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurosnn.analysis.plot import save  # noqa: E402
from neurosnn.io.record import RunRecord, read_run  # noqa: E402
from neurosnn.simulation.curve import frontier  # noqa: E402


def plot_frontier(runs: dict[str, RunRecord], out: Path, ann_accuracy: float | None = None) -> Path:
    """One line per run: steps needed (y) against target accuracy (x), from 10% below the
    lowest run's best accuracy to the highest; the ANN − 1% and − 2% targets marked."""
    best = [float(r.accuracy.max()) for r in runs.values()]
    low = max(0.0, min(best) - 0.10)
    targets = np.linspace(low, max(best), 400)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, run in runs.items():
        ax.plot(100 * targets, frontier(run.accuracy, targets), label=label, lw=1.5)
    if ann_accuracy is not None:
        for drop, style in ((0.01, "--"), (0.02, ":")):
            ax.axvline(
                100 * (ann_accuracy - drop),
                color="k",
                ls=style,
                lw=1,
                label=f"ANN − {int(100 * drop)}% ({100 * (ann_accuracy - drop):.2f}%)",
            )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    # 20, 30, 50 between the powers of ten (not 6×10^1), the other minor ticks unlabelled
    ax.yaxis.set_minor_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "235" else "")
    )
    ax.set(
        xlabel="target accuracy (%)",
        ylabel="timesteps to reach it",
        title="Latency–accuracy frontier (lower is faster)",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save(fig, out)


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["frontier"], argv)


def run(job) -> int:
    args = job.plot
    labels = list(args.labels) or [Path(r).stem for r in args.runs]
    if len(labels) != len(args.runs):
        raise SystemExit(f"error: --labels has {len(labels)} names for {len(args.runs)} runs")
    try:
        runs = {label: read_run(path) for label, path in zip(labels, args.runs, strict=True)}
    except (FileNotFoundError, UserError) as err:
        raise SystemExit(f"error: {err}") from err
    ann = next(iter(runs.values())).metadata.get("ann_accuracy")
    out = Path(args.out)
    if out.suffix == ".png":
        print(f"note: --out {out} is 0.2's form; from 0.3 on --out DIR writes DIR/frontier.png")
    else:
        out = out / "frontier.png"
    print(plot_frontier(runs, out, ann))
    return 0


if __name__ == "__main__":
    sys.exit(main())
