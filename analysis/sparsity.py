"""Plot of the sparsity experiment: test accuracy against spikes per image for every schedule
and σ₀ (the trade-off behind Allred et al.'s Tables 1–2).

    python -m analysis.sparsity runs/sparsity      # → runs/sparsity/plots/sparsity.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurosnn.analysis.plot import save  # noqa: E402


def plot_sparsity(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    s = json.loads((folder / "summary.json").read_text())
    fig, ax = plt.subplots(figsize=(7, 4))
    base = s["table"][0]
    ax.scatter(
        [base["spikes_per_image"]],
        [base["test_accuracy"]],
        c="k",
        marker="*",
        s=120,
        label="C.E. only",
    )
    for schedule in sorted({r["schedule"] for r in s["grid"]}):
        rows = sorted(
            (r for r in s["grid"] if r["schedule"] == schedule), key=lambda r: r["sigma0"]
        )
        ax.plot(
            [r["spikes_per_image"] for r in rows],
            [r["test_accuracy"] for r in rows],
            marker="o",
            label=schedule,
        )
    ax.set_xlabel("spikes per image")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    return [save(fig, out / "sparsity.png")]


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["sparsity"], argv)


def run(job) -> int:
    args = job.plot
    for path in plot_sparsity(args.folder, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
