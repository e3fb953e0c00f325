"""Plot a run record: accuracy vs timestep (with the ANN's accuracy), per-layer activity and a
spike raster of one image. PNGs are written headless (Agg).

    python -m analysis.plot runs/fmnist_vgg9/convert.h5   # PNGs in runs/fmnist_vgg9/convert_plots/
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

from neurosnn.errors import UserError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurosnn.io.record import RunRecord, read_run, read_spikes, record_in  # noqa: E402


def save(fig, path: Path) -> Path:
    """Write a figure as PNG (creating its folder) and release it; a file at ``path`` that is
    not a PNG is refused, not replaced."""
    from neurosnn.io.owned import check_replaceable

    check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def describe(run: RunRecord) -> str:
    """What a run's curves are of: data set, test images, T."""
    dataset = run.metadata.get("dataset") or run.config.get("dataset") or "test set"
    return f"{dataset}, {run.n_images:,} test images, T = {run.timesteps}"


def zoom(ax, zoomed, ann: float | None, below: float = 10.0) -> None:
    """Draw ``ax``'s curves and marker lines again on ``zoomed``, its y axis from ``below``
    points under the ANN's accuracy (or the best curve's) to just above: the region a 0–100%
    axis hides."""
    tops = []
    for line in ax.get_lines():
        style = {"color": line.get_color(), "ls": line.get_linestyle(), "lw": line.get_linewidth()}
        if line.get_transform() == ax.get_xaxis_transform():  # a vertical marker
            zoomed.axvline(line.get_xdata()[0], **style)
        elif line.get_transform() == ax.get_yaxis_transform():  # a horizontal marker
            zoomed.axhline(line.get_ydata()[0], **style)
        else:
            zoomed.plot(*line.get_data(), **style, marker=line.get_marker())
            tops.append(float(np.max(line.get_ydata())))
    # from `below` points under the ANN (or the best curve) to above every curve's top
    base = 100 * ann if ann is not None else max(tops, default=100.0)
    zoomed.set_ylim(base - below, max([base, *tops]) + 1.5)
    zoomed.set(
        xlabel=ax.get_xlabel(),
        ylabel=ax.get_ylabel(),
        title=f"near the ANN (from {below:g} points below it)",
    )
    zoomed.grid(alpha=0.3)


def plot_accuracy(run: RunRecord, out: Path) -> Path:
    fig, (ax, near) = plt.subplots(1, 2, figsize=(11, 4))
    t = np.arange(1, run.timesteps + 1)
    ax.plot(t, 100 * run.accuracy, label="SNN")
    ann = run.metadata.get("ann_accuracy")
    if ann is not None:
        ax.axhline(100 * ann, color="k", ls="--", lw=1, label=f"ANN ({100 * ann:.2f}%)")
    ax.set(
        xlabel="timestep", ylabel="accuracy (%)", title=f"Accuracy vs timestep ({describe(run)})"
    )
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    zoom(ax, near, ann)
    return save(fig, out / "accuracy_vs_time.png")


def plot_activity(run: RunRecord, out: Path) -> Path:
    if_layers = [l for l in run.layers if l.kind == "if"]
    rates = run.firing_rates()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    names = [l.name for l in if_layers]
    a1.bar(range(len(names)), [rates[n] for n in names])
    a1.set_xticks(range(len(names)), names, rotation=45, ha="right")
    a1.set(ylabel="spikes / neuron / step", title="Firing rate per layer")
    t = np.arange(1, run.timesteps + 1)
    for l in if_layers:
        per_step = run.spike_counts[l.name] / (np.prod(l.shape) * run.n_images)
        a2.plot(t, per_step, label=l.name, lw=1)
    a2.set(xlabel="timestep", ylabel="fraction of neurons spiking", title="Activity over time")
    a2.legend(fontsize=7, ncol=2)
    return save(fig, out / "layer_activity.png")


def test_index(run: RunRecord, sample: int) -> int | str:
    """The test-set index of a run's ``sample``-th image (runs before indices were recorded:
    "?")."""
    if "test_indices" not in run.metadata:
        return "?"
    indices = run.metadata["test_indices"]
    return sample if indices is None else indices[sample]


def plot_raster(run: RunRecord, out: Path, sample: int, max_neurons: int = 200) -> Path | None:
    layers = [l for l in run.layers if l.name in run.recorded]
    if not layers:
        return None
    recorded = min(run.recorded.values())
    if not 0 <= sample < recorded:
        raise UserError(
            f"--sample must be an image with spike trains, 0 to {recorded - 1}, got {sample}"
        )
    fig, axes = plt.subplots(
        len(layers), 1, figsize=(8, 1.4 * len(layers) + 1), sharex=True, squeeze=False
    )
    for ax, l in zip(axes[:, 0], layers, strict=True):
        s = read_spikes(run.path, l.name, samples=sample)[0].reshape(run.timesteps, -1)
        active = np.nonzero(s.any(0))[0][:max_neurons]
        ts, ns = np.nonzero(s[:, active])
        ax.scatter(ts + 1, ns, s=1, marker="|", color="k")
        ax.set_ylabel(f"{l.name}\nneuron", rotation=0, ha="right", va="center", fontsize=8)
        if len(active):  # the first and last active neuron's index in the layer
            ax.set_yticks([0, len(active) - 1], [str(active[0]), str(active[-1])], fontsize=7)
        ax.set_ylim(-1, max(len(active), 1))
        ax.set_xlim(0, run.timesteps + 1)
    axes[-1, 0].set_xlabel("timestep")
    fig.suptitle(
        f"Spike raster of recorded image {sample} (test image #{test_index(run, sample)}, "
        f"label {run.labels[sample]})\nup to {max_neurons} active neurons per layer, "
        "numbered by their index in the layer",
        fontsize=9,
    )
    return save(fig, out / "raster.png")


def plot_run(path: str | Path, out: str | Path | None = None, sample: int = 0) -> list[Path]:
    """Write all plots of one run file; returns the PNG paths."""
    run = read_run(path)
    out = Path(out) if out is not None else Path(path).with_name(Path(path).stem + "_plots")
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_accuracy(run, out), plot_activity(run, out)]
    raster = plot_raster(run, out, sample)
    if raster is None:
        print(f"note: {path} holds no spike trains; no raster plotted")
    else:
        paths.append(raster)
    return paths


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["run"], argv)


def run(job) -> int:
    args = job.plot
    try:
        paths = plot_run(record_in(args.run), args.out, args.sample)
    except (FileNotFoundError, UserError) as err:
        raise SystemExit(f"error: {err}") from err
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
