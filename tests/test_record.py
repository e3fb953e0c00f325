import h5py
import numpy as np
import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.io.record import RunWriter, read_run, read_spikes, write_run
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg


@pytest.fixture
def snn(data):
    return convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))


def test_round_trip(tmp_path, data, snn):
    path = tmp_path / "run.h5"
    config = {"timesteps": 20, "note": "round trip"}
    with RunWriter(path, config) as writer:
        result = simulate(
            snn, data.test.batches(16), 20, record_spikes=100, spike_sink=writer.write_spikes
        )
        writer.write_result(result, snn.percentiles, {"ann_accuracy": 0.5})
    run = read_run(path)
    assert run.config == config and run.metadata == {"ann_accuracy": 0.5}
    assert run.timesteps == 20 and run.n_images == 40
    np.testing.assert_array_equal(run.accuracy, result.accuracy.numpy())
    np.testing.assert_array_equal(run.labels, result.labels.numpy())
    assert [l.name for l in run.layers] == snn.layer_names
    assert [l.threshold for l in run.layers[:-1]] == pytest.approx(snn.thresholds)
    assert [l.percentile for l in run.layers[:-1]] == [99.7] * 4
    assert run.firing_rates() == pytest.approx(result.firing_rates())
    for name in snn.if_names:
        np.testing.assert_array_equal(run.spike_counts[name], result.spike_counts[name].numpy())
        trains = read_spikes(path, name)  # [40, 20, *shape] booleans
        assert trains.shape == (40, 20, *snn.layer(name).shape) and trains.dtype == bool
        # every recorded spike adds up to the engine's own per-step counts
        np.testing.assert_array_equal(
            trains.reshape(40, 20, -1).sum((0, 2)), result.spike_counts[name].numpy()
        )
    one = read_spikes(path, "features.0", samples=3, times=slice(5, 9))
    np.testing.assert_array_equal(one, read_spikes(path, "features.0")[3:4, 5:9])


def test_layout_is_plain_hdf5(tmp_path, data, snn):
    path = tmp_path / "run.h5"
    result = simulate(snn, data.test.batches(40), 5)
    write_run(path, result, {"a": 1})
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "neurosnn-run"
        assert f["accuracy"].shape == (5,) and f["spike_counts/features.0"].dtype == np.int64
        assert f["layers/features.0"].attrs["kind"] == "if"
        assert "spikes" not in f


def test_interrupted_run_leaves_no_file(tmp_path, data, snn):
    path = tmp_path / "run.h5"
    with pytest.raises(KeyboardInterrupt), RunWriter(path, {}) as writer:
        writer.write_spikes("features.0", 0, torch.zeros(3, 2, 4, dtype=torch.uint8), (32,))
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_unreadable_files(tmp_path, data, snn):
    with pytest.raises(FileNotFoundError):
        read_run(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        read_run(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a neurosnn run"):
        read_run(tmp_path / "other.h5")
    write_run(tmp_path / "run.h5", simulate(snn, data.test.batches(40), 3), {})
    with pytest.raises(ValueError, match="no spike trains"):
        read_spikes(tmp_path / "run.h5", "features.0")
    with h5py.File(tmp_path / "run.h5", "a") as f:
        del f["accuracy"]
    with pytest.raises(ValueError, match=r"run\.h5 is a damaged or incomplete run file"):
        read_run(tmp_path / "run.h5")
    from neurosnn.analysis import inspect

    with pytest.raises(SystemExit, match="error: .*incomplete run file"):
        inspect.main([str(tmp_path / "run.h5")])


def test_search_round_trip(tmp_path):
    from neurosnn.io.record import read_search, write_search

    history = [
        {
            "best_cost": 5.0 - g,
            "mean_cost": 6.0 - g,
            "evaluations": 6 * (g + 2),
            "seconds": 0.5,
            "population": [[99.0 + g, 99.5]] * 6,
            "costs": [5.0 - g] * 6,
        }
        for g in range(3)
    ]
    path = write_search(
        tmp_path / "s.h5",
        config={"alpha": 1},
        layers=["a", "b"],
        history=history,
        best={"percentiles": [99.1, 99.9]},
        metrics={"latency_improvement": 0.25},
        significance={"components": [3, 5]},
    )
    s = read_search(path)
    assert s["config"] == {"alpha": 1} and s["layers"] == ["a", "b"]
    assert s["metrics"]["latency_improvement"] == 0.25
    np.testing.assert_array_equal(s["history"]["best_cost"], [5.0, 4.0, 3.0])
    assert s["history"]["population"].shape == (3, 6, 2)
    np.testing.assert_array_equal(s["best"]["percentiles"], [99.1, 99.9])
    np.testing.assert_array_equal(s["significance"]["components"], [3, 5])
    assert not (tmp_path / "s.h5.tmp").exists()
    with pytest.raises(ValueError, match="not a neurosnn search"):
        read_search(
            write_run(
                tmp_path / "r.h5",
                simulate(
                    convert(tiny_vgg(), [torch.randn(8, 1, 8, 8)], (1, 8, 8)),
                    [(torch.randn(2, 1, 8, 8), torch.zeros(2, dtype=torch.long))],
                    3,
                ),
                {},
            )
        )


def test_a_csv_of_the_per_step_figures_lies_beside_the_record(tmp_path, data):
    import csv

    snn = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    with RunWriter(tmp_path / "r.h5", {}) as writer:
        writer.write_result(simulate(snn, data.test.batches(20), 12))
    run = read_run(tmp_path / "r.h5")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert [float(r["accuracy"]) for r in rows] == pytest.approx(run.accuracy.tolist())
    for layer in run.layers[:-1]:
        neurons = int(np.prod(layer.shape)) * run.n_images
        expected = run.spike_counts[layer.name] / neurons
        assert [float(r[f"rate:{layer.name}"]) for r in rows] == pytest.approx(expected, rel=1e-5)
