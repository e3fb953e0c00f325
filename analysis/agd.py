"""Plot of the AGD comparison: test accuracy vs timestep of each variant.

python -m analysis.agd runs/agd      # → runs/agd/plots/agd.png
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


def plot_agd(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    s = json.loads((folder / "summary.json").read_text())
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in s["variants"].items():
        acc = r["accuracy"]
        label = f"{name} ({r['spikes_per_image']:.0f} spikes/image)"
        ax.plot(np.arange(1, len(acc) + 1), acc, label=label)
    ax.set_xlabel("timestep")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title(f"AGD-trained {s['net']} (T = {s['timesteps']})")
    return [save(fig, out / "agd.png")]


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["agd"], argv)


def run(job) -> int:
    args = job.plot
    for path in plot_agd(args.folder, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
