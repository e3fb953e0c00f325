import numpy as np
import pytest
import torch
from torch import nn

from neurosnn.conversion import convert
from neurosnn.io.record import read_run, write_run
from neurosnn.measures.energy import E_AC_PJ, E_MAC_PJ, energy, energy_of, unique_parameters
from neurosnn.simulation.run import simulate
from neurosnn.snn.macs import chain_inputs, layer_inputs


def toy():
    """conv 1→2 (3×3, padding 1) on 4×4, ReLU, flatten, linear 32→3."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)
    ).eval()


def test_two_layer_toy_by_hand(tmp_path):
    model = toy()
    x = torch.rand(10, 1, 4, 4)
    snn = convert(model, [x], (1, 4, 4))
    # O²·N·k²·M and in·out
    assert layer_inputs(snn) == {"0": [("input", 2 * 4 * 4 * 9)], "3": [("0", 32 * 3)]}
    r = simulate(snn, [(x, torch.zeros(10, dtype=torch.long))], 20)
    spikes = int(r.spike_counts["0"].sum())
    assert spikes > 0
    activity = spikes / (32 * 10 * 20)  # spikes per neuron per step
    e = energy_of(r)
    assert e.activity == [1.0, pytest.approx(activity)]
    assert e.snn_ops == [288, pytest.approx(96 * activity * 20)]
    assert e.ann_pj == pytest.approx((288 + 96) * 3.2)
    assert e.snn_pj == pytest.approx(288 * 3.2 + 96 * activity * 20 * 0.1)
    assert e.efficiency == pytest.approx(e.ann_pj / e.snn_pj)
    assert e.spiking_efficiency == pytest.approx(96 * 3.2 / (96 * activity * 20 * 0.1))
    # the same from the HDF5 record
    path = write_run(tmp_path / "run.h5", r, {})
    assert energy_of(read_run(path)).as_dict() == e.as_dict()
    assert (E_MAC_PJ, E_AC_PJ) == (3.2, 0.1)


def test_analog_layers_count_macs_once():
    shapes = {"a": (4,), "b": (4,), "out": (2,)}
    counts = {"a": np.array([8.0]), "b": np.array([2.0])}
    macs = {"a": 12, "b": 16, "out": 8}
    names = ["a", "b", "out"]
    e = energy(names, shapes, chain_inputs(names, macs), counts, 1, 1, analog=["a"])
    # a: image input; b: fed by the ReLU layer a (MACs once); out: fed by spikes of b
    assert e.spiking == [False, False, True]
    assert e.snn_ops == [12, 16, pytest.approx(8 * 2 / 4)]
    assert e.snn_macs == [12, 16, 0]
    with pytest.raises(ValueError, match="no spike counts for layer b"):
        energy(names, shapes, chain_inputs(names, macs), {"a": np.ones(1)}, 1, 1)
    with pytest.raises(ValueError, match="no MAC count"):
        chain_inputs(names, {"a": 1})


def test_each_connection_counts_its_own_sources_activity():
    """A residual layer c fed by b (a convolution, 10 MACs) and by a (an identity shortcut,
    no MACs) and by the image (6 MACs, once): by hand."""
    shapes = {"a": (4,), "b": (2,), "c": (2,), "out": (1,)}
    counts = {"a": np.array([4.0, 4.0]), "b": np.array([1.0, 0.0]), "c": np.array([2.0, 2.0])}
    inputs = {
        "a": [("input", 8)],
        "b": [("a", 12)],
        "c": [("b", 10), ("a", 0), ("input", 6)],
        "out": [("c", 4)],
    }
    e = energy(["a", "b", "c", "out"], shapes, inputs, counts, 1, 2, analog=["input"])
    sa_a, sa_b, sa_c = 8 / (4 * 2), 1 / (2 * 2), 4 / (2 * 2)
    assert e.snn_ops == pytest.approx([8, 12 * sa_a * 2, 10 * sa_b * 2 + 6, 4 * sa_c * 2])
    assert e.ann_macs == [8, 12, 16, 4] and e.snn_macs == [8, 0, 6, 0]
    assert e.spiking == [False, True, True, True]
    assert e.activity[2] == pytest.approx(sa_b)  # weighted by MACs: the shortcut has none
    assert e.snn_pj == pytest.approx(
        (8 + 6) * E_MAC_PJ + (24 * sa_a + 20 * sa_b + 8 * sa_c) * E_AC_PJ
    )


def test_macs_of_strided_convolutions_and_pooling():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 5),
    ).eval()
    snn = convert(model, [torch.rand(8, 3, 16, 16)], (3, 16, 16))
    macs = {n: sum(m for _, m in v) for n, v in layer_inputs(snn).items()}
    assert macs == {"0": 4 * 8 * 8 * 3 * 9, "3": 6 * 4 * 4 * 4, "6": 96 * 5}


def test_unique_parameters_count_shared_weights_once():
    shared = nn.Linear(4, 4)
    tied = nn.Sequential(shared, nn.ReLU(), shared)
    untied = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    assert unique_parameters(tied) == 20 and unique_parameters(untied) == 40
