"""Every plot, rendered from a small record: its axes cover its data (nothing cut), the zoomed
panels say what they show, integer counts have integer ticks, and nothing is written in the
6×10^1 notation."""

import matplotlib
import numpy as np
from matplotlib.collections import PathCollection

matplotlib.use("Agg")

from neurosnn.conversion import convert  # noqa: E402
from neurosnn.io.record import RunWriter, read_run  # noqa: E402
from neurosnn.simulation.run import simulate  # noqa: E402
from tests.conftest import tiny_vgg  # noqa: E402


def record(tmp_path, data, name="run.h5", percentile=99.7, T=40):
    snn = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8), percentile)
    with RunWriter(tmp_path / name, {}) as writer:
        result = simulate(
            snn, data.test.batches(20), T, record_spikes=4, spike_sink=writer.write_spikes
        )
        writer.write_result(result, None, {"ann_accuracy": 0.5, "dataset": "synthetic"})
    return read_run(tmp_path / name)


def covered(fig) -> None:
    """Every line and scatter of every axis lies inside its limits (a zoomed panel may cut
    what lies below it, not what lies above)."""
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        zoomed = "near the ANN" in ax.get_title()
        for line in ax.get_lines():
            if line.get_transform() != ax.transData:
                continue  # a marker line spanning the axis
            x, y = (np.asarray(v, dtype=float) for v in line.get_data())
            keep = np.isfinite(x) & np.isfinite(y)
            x, y = x[keep], y[keep]
            if len(x):
                assert x0 <= x.min() and x.max() <= x1, (ax.get_title(), x.min(), x.max())
                assert y.max() <= y1, (ax.get_title(), y.max(), y1)
                assert zoomed or y0 <= y.min(), (ax.get_title(), y.min(), y0)
        for points in ax.collections:
            if not isinstance(points, PathCollection):
                continue  # error bars and fills: offsets are not data
            xy = points.get_offsets()
            if len(xy):
                assert x0 <= xy[:, 0].min() and xy[:, 0].max() <= x1
                assert y0 <= xy[:, 1].min() and xy[:, 1].max() <= y1
        if zoomed:
            assert ax.get_ylabel(), "a zoomed panel says what its y axis is"
        for label in ax.get_yticklabels():
            assert "times" not in label.get_text() and "^" not in label.get_text()


def test_run_plots_cover_their_data(tmp_path, data, kept):
    from neurosnn.analysis.plot import plot_run

    run = record(tmp_path, data)
    paths = plot_run(run.path, tmp_path / "plots")
    assert [p.name for p in paths] == ["accuracy_vs_time.png", "layer_activity.png", "raster.png"]
    for fig in kept:
        covered(fig)
    raster = kept[-1]
    assert "\n" in raster._suptitle.get_text()  # the long title wraps instead of being cut
    assert all("neuron" in ax.get_ylabel() for ax in raster.axes)


def test_latency_plots_cover_their_data_and_say_what_they_show(tmp_path, data, kept):
    from neurosnn.analysis.latency import plot_latency

    runs = {"a": record(tmp_path, data, "a.h5", 99.0, T=80).path}
    runs["b"] = record(tmp_path, data, "b.h5", 99.9, T=80).path
    plot_latency(runs, tmp_path / "plots", steps=64)
    for fig in kept:
        covered(fig)
    accuracy = kept[-1].axes[0]
    # the title says what the axis shows; a run longer than it says so in its label
    assert accuracy.get_title().startswith("Accuracy per step, t = 1–64 (")
    assert "T = 80" not in accuracy.get_title()
    assert accuracy.get_legend().get_texts()[0].get_text() == "a (runs to T = 80)"
    frontier = kept[0].axes[0]
    assert frontier.get_yscale() == "log"


def test_one_generation_has_a_whole_number_tick(tmp_path, kept):
    from neurosnn.analysis.neuroevolution import plot_cost

    search = {
        "history": {"best_cost": np.array([3.0]), "mean_cost": np.array([4.0])},
        "metrics": {"objective": "eq11"},
    }
    plot_cost(search, tmp_path)
    ax = kept[-1].axes[0]
    covered(kept[-1])
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1.0]
