"""A saved SNN loads to the same network: spike for spike, thresholds, φ, percentiles,
calibration and channel scales; truncated or foreign files get an error naming the file."""

import h5py
import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.io.record import write_arrays
from neurosnn.io.snnfile import load_snn, save_snn
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg


def run(snn, data, **kw):
    return simulate(snn, data.test.batches(32), 20, **kw)


def assert_same_run(a, b, snn):
    assert torch.equal(a.correct, b.correct) and torch.equal(a.predictions, b.predictions)
    for name in snn.if_names:
        assert torch.equal(a.spike_counts[name], b.spike_counts[name])


@pytest.mark.parametrize(
    "pool,kw",
    [
        ("avg", {}),
        ("max", {"phi": 0.5}),
        ("avg", {"channelwise": True, "percentile_of": "positive"}),
    ],
)
def test_saved_snn_loads_spike_for_spike(tmp_path, data, pool, kw):
    model = tiny_vgg(pool=pool)
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8), **kw)
    snn.set_percentiles([99.0, 99.5, 99.9, 98.0])  # as a search leaves it
    # as BPTT leaves it: weights that are no longer the ANN's
    with torch.no_grad():
        next(iter(snn.network.connections.values())).ops[0].weight.mul_(1.1)
    path = save_snn(tmp_path / "a.snn.h5", snn, {"search": "runs/x/ne"})
    loaded, meta = load_snn(path)
    assert loaded.thresholds == snn.thresholds and loaded.phi == snn.phi
    assert loaded.percentiles == snn.percentiles and loaded.percentile_of == snn.percentile_of
    assert sorted(loaded.channel_scales) == sorted(snn.channel_scales)
    for name, scales in snn.channel_scales.items():
        assert torch.equal(loaded.channel_scales[name], scales)
    assert loaded.percentile_thresholds(99.7) == snn.percentile_thresholds(99.7)
    assert meta["source"] == {"search": "runs/x/ne"}
    for delay, onset in (("layer", "always"), ("layer", "input"), ("none", "always")):
        assert_same_run(
            run(loaded, data, delay=delay, bias_onset=onset),
            run(snn, data, delay=delay, bias_onset=onset),
            snn,
        )


def test_qcfs_snn_keeps_its_trained_thresholds(tmp_path, data):
    from neurosnn.networks import create_network

    torch.manual_seed(0)
    model = create_network(
        "vgg5", 4, 1, 8, width=0.125, activation="qcfs", levels=4, qcfs_threshold=1.0
    )
    for m in model.modules():  # biases that keep every layer active on the calibration data
        if isinstance(m, torch.nn.BatchNorm2d):
            m.bias.data.uniform_(0.3, 0.6)
    model.eval()
    snn = convert(
        model, [x for x, _ in data.train.batches(64)], (1, 8, 8), thresholds="trained", phi=0.5
    )
    loaded, _ = load_snn(save_snn(tmp_path / "q.snn.h5", snn))
    assert loaded.thresholds == snn.thresholds and loaded.phi == [0.5] * len(snn.if_names)
    assert type(loaded.activations[snn.if_names[0]]).__name__ == "QCFS"
    assert_same_run(run(loaded, data), run(snn, data), snn)


def test_truncated_or_foreign_files_are_refused(tmp_path, data):
    model = tiny_vgg()
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8))
    path = save_snn(tmp_path / "a.snn.h5", snn)
    (tmp_path / "cut.h5").write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"cut\.h5 is not a readable HDF5 file"):
        load_snn(tmp_path / "cut.h5")
    write_arrays(tmp_path / "other.h5", {"g": {"x": [1]}}, {})
    with pytest.raises(ValueError, match=r"other\.h5 is not a neurosnn SNN file"):
        load_snn(tmp_path / "other.h5")
    with h5py.File(path, "a") as f:
        del f["calibration:features.0"]
    with pytest.raises(
        ValueError, match=r"a\.snn\.h5(: its .* do not match the checksum| is not a complete)"
    ):
        load_snn(path)
