import pytest
import torch

from neurosnn.simulation.engine.pooling import (
    _max_geometry,
    _window,
    avg_pool,
    gated_max_pool,
    pooled_size,
)
from neurosnn.snn.synapses import SpikeMaxPool2d


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("size", [(7, 7), (8, 6), (28, 28)])
def test_pool_equals_torch_to_the_bit(k, size):
    # random floats, not only spikes: the same sums in the same order give the same bits
    x = torch.randn(5, 3, *size, generator=torch.Generator().manual_seed(k))
    m = torch.nn.AvgPool2d(k)
    assert _window(m) == k
    assert torch.equal(avg_pool(m, x), m(x))


@pytest.mark.parametrize(
    "m",
    [
        torch.nn.AvgPool2d(2, stride=1),
        torch.nn.AvgPool2d(2, padding=1),
        torch.nn.AvgPool2d(3, ceil_mode=True),
        torch.nn.AvgPool2d((2, 3)),
        torch.nn.AvgPool2d(2, divisor_override=3),
    ],
)
def test_other_pools_go_to_the_module(m):
    x = torch.randn(2, 3, 9, 9)
    assert _window(m) is None
    assert torch.equal(avg_pool(m, x), m(x))


def test_tensors_the_kernel_cannot_take_go_to_the_module():
    m = torch.nn.AvgPool2d(2)
    x = torch.randn(2, 3, 8, 8)
    for y in (x.double(), x.transpose(2, 3), x.clone().requires_grad_()):
        assert torch.equal(avg_pool(m, y), m(y))


def _spikes(shape, seed, theta=0.7):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < 0.3).float() * theta  # sparse: many count ties


GEOMETRIES = [  # (window, stride, padding, ceil_mode)
    (2, 2, 0, False),  # VGG
    (3, 3, 0, False),
    (3, 2, 0, True),  # SqueezeNet, GoogLeNet
    (3, 2, 1, False),  # ResNet's stem
    (3, 1, 1, False),
    (2, 2, 0, True),
    (3, 2, 1, True),
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("size", [(6, 6), (7, 5), (15, 13)])
def test_gated_max_pool_equals_the_step_by_step_pool(geometry, size):
    k, stride, pad, ceil = geometry

    def pool():
        return SpikeMaxPool2d(k, stride, pad, ceil_mode=ceil)

    assert _max_geometry(pool()) == (k, stride, pad)  # the kernel takes it
    step = pool()  # bindsnet's path: one step at a time, counts kept in the module
    x = _spikes((9, 3, 2, *size), seed=k + stride)
    expected = torch.stack([step(x[t]) for t in range(9)])
    assert expected.shape[3:] == tuple(pooled_size(n, k, stride, pad, ceil) for n in size)
    # two blocks (4 + 5 steps), the counts carried between them
    first, counts = gated_max_pool(pool(), x[:4].contiguous(), None)
    second, counts = gated_max_pool(pool(), x[4:].contiguous(), counts)
    assert torch.equal(torch.cat([first, second]), expected)
    assert torch.equal(counts, x.ne(0).float().sum(0))
    # the torch path (a non-contiguous block) gives the same
    slow, _ = gated_max_pool(pool(), x.transpose(3, 4).contiguous().transpose(3, 4), None)
    assert not x.transpose(3, 4).contiguous().transpose(3, 4).is_contiguous()
    assert torch.equal(slow, expected)


def test_gated_max_pool_leaves_the_counts_argument_alone():
    x = _spikes((3, 1, 2, 4, 4), seed=0)
    counts = torch.ones(1, 2, 4, 4)
    gated_max_pool(SpikeMaxPool2d(2), x, counts)
    assert torch.equal(counts, torch.ones(1, 2, 4, 4))


def test_rectangular_spike_pools_go_to_torch():
    assert _max_geometry(SpikeMaxPool2d((2, 3))) is None
    assert _max_geometry(SpikeMaxPool2d(3, (1, 2))) is None
    assert _max_geometry(SpikeMaxPool2d(3, 2, (1, 0))) is None
    m = SpikeMaxPool2d((2, 3))
    x = _spikes((3, 1, 2, 6, 6), seed=1)
    out, _ = gated_max_pool(m, x, None)
    step = SpikeMaxPool2d((2, 3))
    assert torch.equal(out, torch.stack([step(x[t]) for t in range(3)]))
