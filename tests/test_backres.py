import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurosnn.conversion import convert
from neurosnn.measures.energy import unique_parameters
from neurosnn.networks import create_network
from neurosnn.networks.blocks import BackResBlock
from neurosnn.simulation.run import simulate


def test_backres_block_equals_the_explicitly_unrolled_network():
    torch.manual_seed(0)
    block = BackResBlock(4, depth=2, n=3, bias=True).eval()
    a, b = block.convs
    unrolled = nn.Sequential(*[m for _ in range(3) for m in (a, nn.ReLU(), b, nn.ReLU())])
    x = torch.randn(5, 4, 6, 6)
    assert torch.equal(block(x), unrolled(x))
    assert unique_parameters(block) == unique_parameters(nn.Sequential(a, b))


def test_logical_depth_and_compression():
    def depth(model):
        # convolutions applied (weights counted once per application) plus linear layers
        x, applied = torch.randn(1, 1, 28, 28), []
        hooks = [
            m.register_forward_hook(lambda m, i, o: applied.append(m))
            for m in model.modules()
            if isinstance(m, nn.Conv2d | nn.Linear)
        ]
        model(x)
        for h in hooks:
            h.remove()
        return len(applied)

    nets = {n: create_network(n, 10, 1, 28, width=0.25) for n in ("vgg7", "vgg2x4", "vgg3x2-v1")}
    assert {n: depth(m) for n, m in nets.items()} == {"vgg7": 7, "vgg2x4": 7, "vgg3x2-v1": 7}
    conv = 32 * 32 * 9  # one 3x3 convolution at width 0.25 (32 channels), no bias
    assert unique_parameters(nets["vgg7"]) - unique_parameters(nets["vgg2x4"]) == 3 * conv
    assert unique_parameters(nets["vgg7"]) - unique_parameters(nets["vgg3x2-v1"]) == 2 * conv


@pytest.fixture
def backres_snn(data):
    torch.manual_seed(0)
    model = create_network("vgg2x4", 4, 1, 8, width=0.125, bias=True).eval()
    return convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8))


def test_conversion_gives_each_unrolling_step_its_own_layer(backres_snn, data):
    snn = backres_snn
    steps = [n for n in snn.if_names if n.startswith("features.3.convs.0@")]
    assert steps == [f"features.3.convs.0@{k}" for k in (1, 2, 3, 4)]
    assert len(set(snn.thresholds)) == len(snn.thresholds)  # calibrated per step
    ref = simulate(snn, data.test.batches(16), 16, engine="reference")
    fast = simulate(snn, data.test.batches(16), 16)
    for name in snn.if_names:
        assert torch.equal(fast.spike_counts[name], ref.spike_counts[name])


def test_per_step_thresholds_act_in_their_step(backres_snn, data):
    snn = backres_snn
    values = snn.thresholds
    i = snn.if_names.index("features.3.convs.0@2")
    values[i] = 1e6  # silence the second unrolling step only
    snn.set_thresholds(values)
    counts = simulate(snn, data.test.batches(40), 20).spike_counts
    assert counts["features.3.convs.0@1"].sum() > 0
    assert counts["features.3.convs.0@2"].sum() == 0
    # the third step reads the (silent) second: only its bias can drive it
    with torch.no_grad():
        for k in (3, 4):
            snn.connection(f"features.3.convs.0@{k}").weighted.bias.zero_()
    counts = simulate(snn, data.test.batches(40), 20).spike_counts
    assert counts["features.3.convs.0@3"].sum() == 0 and counts["features.3.convs.0@4"].sum() == 0


def test_backres_with_batch_norm_folds_per_step():
    torch.manual_seed(0)
    model = create_network("vgg3x2-v1", 4, 1, 8, width=0.125, batch_norm=True)
    model.train()
    for _ in range(3):  # non-trivial running statistics, different per unrolling step
        model(torch.randn(16, 1, 8, 8))
    model.eval()
    x = torch.randn(32, 1, 8, 8)
    snn = convert(model, [x], (1, 8, 8))
    names = [n for n in snn.layer_names if "@" in n]
    assert names == [
        # features.0 conv, .1 BatchNorm, .2 ReLU, .3 pool, .4 the block
        "features.4.convs.0@1",
        "features.4.convs.1@1",
        "features.4.convs.0@2",
        "features.4.convs.1@2",
    ]
    w1 = snn.connection("features.4.convs.0@1").weighted.weight
    w2 = snn.connection("features.4.convs.0@2").weighted.weight
    assert not torch.equal(w1, w2)  # same conv, each step's own BatchNorm folded in
    assert F.relu(model(x)).shape == (32, 4)
