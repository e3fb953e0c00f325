"""Local threshold balancing (Bu, Li & Yu, CVPR 2025): the thresholds of hand-worked steps, the
conversion that folds them, and the latency recipe."""

import pytest
import torch
from torch import nn

from neurosnn.conversion import ann_graph, convert
from neurosnn.conversion.balance import balance_thresholds
from neurosnn.errors import UserError
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg
from tests.test_convert import calib_batches
from tests.test_latency_modes import assert_same_run, with_qcfs


def two_units():
    model = nn.Sequential(
        nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.Conv2d(1, 1, 1, bias=False), nn.ReLU()
    )
    model.append(nn.Flatten()).append(nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[2].weight.fill_(2.0)
    return model.eval()


def test_thresholds_by_hand():
    # batches of 4 through z1 = x, z2 = 2·clip(z1, 0, θ1):
    # step 1, x = (1, 3, 0, 0): θ1 = 2·mean(1, 3, 0, 0) = 2, clip → (1, 2, 0, 0);
    #         z2 = (2, 4, 0, 0): θ2 = 2·mean = 3
    # step 2, x = (20, 0, 0, 0): θ1 = 2 + 2·18/4 = 11, clip → (11, 0, 0, 0);
    #         z2 = (22, 0, 0, 0): θ2 = 3 + 2·19/4 = 12.5 (unclipped z1 would give 21.5)
    x = torch.tensor([1.0, 3, 0, 0, 20, 0, 0, 0]).view(8, 1, 1, 1)
    graph = ann_graph(two_units(), (1, 1, 1))
    theta = balance_thresholds(graph, [x[:3], x[3:]], iterations=2, batch_size=4)
    assert [t.tolist() for t in theta.values()] == [[11.0], [12.5]]
    first = balance_thresholds(graph, [x], iterations=1, batch_size=4)
    assert [t.tolist() for t in first.values()] == [[2.0], [3.0]]
    # more steps than batches: the images again from the start
    again = balance_thresholds(graph, [x], iterations=5, batch_size=4)
    twice = balance_thresholds(graph, [x, x, x], iterations=5, batch_size=4)
    assert all(torch.equal(again[n], twice[n]) for n in again)
    assert list(again.values())[0].tolist() != [11.0]
    half = balance_thresholds(graph, [x], iterations=2, batch_size=4, rate=0.5)
    assert list(half.values())[0].tolist() == [1.0 + 19 / 4]  # θ1 = 1, then 1 + 19/4


def test_one_threshold_per_channel_and_feature_folded_into_the_weights(data):
    model, batches = tiny_vgg(), calib_batches(data)
    graph = ann_graph(model, (1, 8, 8))
    theta = balance_thresholds(graph, batches)
    assert [len(t) for t in theta.values()] == [n.shape[0] for n in graph.nodes[:-1]]
    snn = convert(model, batches, (1, 8, 8), thresholds="balanced", phi=0.5)
    assert snn.thresholds == [1.0] * len(snn.if_names)
    for name, t in theta.items():
        silent = t == 0  # a channel that never fired keeps its weights
        expected = torch.where(silent, torch.ones_like(t), t).float()
        torch.testing.assert_close(snn.channel_scales[name], expected)
    ref = simulate(snn, data.test.batches(16), 16, engine="reference", bias_onset="input")
    fast = simulate(snn, data.test.batches(16), 16, time_block=5, bias_onset="input")
    assert_same_run(fast, ref, snn.if_names)


def test_refusals(data):
    with pytest.raises(UserError, match="not a ReLU"):
        convert(with_qcfs(tiny_vgg()), calib_batches(data), (1, 8, 8), thresholds="balanced")
    with pytest.raises(UserError, match="channel-wise already"):
        convert(tiny_vgg(), calib_batches(data), (1, 8, 8), thresholds="balanced", channelwise=True)
    with pytest.raises(UserError, match="thresholds must be one of"):
        convert(tiny_vgg(), calib_batches(data), (1, 8, 8), thresholds="max")


def test_the_latency_recipe_is_the_balanced_conversion(tmp_path):
    from neurosnn.io.data import synthetic
    from neurosnn.io.snnfile import load_snn
    from neurosnn.jobs.latency import LatencyConfig, measure_latency
    from tests.test_graph_engine import TinyResNet, init

    data = synthetic(n_train=300, n_test=32, num_classes=5, in_channels=2, input_size=8, seed=0)
    torch.manual_seed(0)
    model = init(TinyResNet())
    cfg = LatencyConfig(
        recipes=("all", "phi+onset+balanced"),
        timesteps=16,
        long_horizon=1,
        test_images=32,
        calib_images=300,
    )
    measure_latency(model, data, cfg, tmp_path, progress=False)
    x = torch.cat([b for b, _ in data.train.random_subset(300, 0).batches(256)])
    expected = convert(model, [x], (2, 8, 8), thresholds="balanced", phi=0.5)
    saved, _ = load_snn(tmp_path / "phi+onset+balanced.snn.h5")
    assert saved.phi == [0.5] * len(saved.if_names)
    for name, scales in expected.channel_scales.items():
        torch.testing.assert_close(saved.channel_scales[name], scales)
    y = torch.zeros(8, dtype=torch.long)
    a, b = (simulate(s, [(x[:8], y)], 12, delay="none") for s in (saved, expected))
    assert_same_run(a, b, saved.if_names)
