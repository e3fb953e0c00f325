"""Plots of the BackRes comparison: accuracy vs T and energy efficiency per network, and the
thresholds of each unrolling step.

    python -m analysis.backres runs/backres      # → runs/backres/plots/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurosnn.analysis.plot import save  # noqa: E402


def plot_backres(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    folder = Path(folder)
    out = Path(out) if out is not None else folder / "plots"
    s = json.loads((folder / "summary.json").read_text())
    nets = s["networks"]
    fig, (acc, ee, thr) = plt.subplots(1, 3, figsize=(14, 4))
    for name, r in nets.items():
        ts = [int(t) for t in r["snn_accuracy"]]
        acc.plot(ts, list(r["snn_accuracy"].values()), marker="o", label=name)
        for conv, values in r["step_thresholds"].items():
            thr.plot(range(1, len(values) + 1), values, marker="s", label=f"{name} {conv}")
    acc.set_xlabel("T")
    acc.set_ylabel("SNN test accuracy")
    acc.legend()
    names = list(nets)
    ee.bar(names, [nets[n]["energy"]["efficiency"] for n in names])
    ee.set_ylabel("EE = E_ANN / E_SNN")
    thr.set_xlabel("unrolling step n")
    thr.set_ylabel("threshold")
    thr.legend(fontsize=7)
    return [save(fig, out / "backres.png")]


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["backres"], argv)


def run(job) -> int:
    args = job.plot
    for path in plot_backres(args.folder, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
