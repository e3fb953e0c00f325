import pytest
import torch

from neurosnn.simulation.engine.pooling import _window, avg_pool, gated_max_pool
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


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("size", [(6, 6), (7, 5)])
def test_gated_max_pool_equals_the_step_by_step_pool(k, size):
    step = SpikeMaxPool2d(k)  # bindsnet's path: one step at a time, counts kept in the module
    x = _spikes((9, 3, 2, *size), seed=k)
    expected = torch.stack([step(x[t]) for t in range(9)])
    # two blocks (4 + 5 steps), the counts carried between them
    first, counts = gated_max_pool(SpikeMaxPool2d(k), x[:4].contiguous(), None)
    second, counts = gated_max_pool(SpikeMaxPool2d(k), x[4:].contiguous(), counts)
    assert torch.equal(torch.cat([first, second]), expected)
    assert torch.equal(counts, x.ne(0).float().sum(0))
    # the torch path (a non-contiguous block) gives the same
    slow, _ = gated_max_pool(
        SpikeMaxPool2d(k), x.transpose(3, 4).contiguous().transpose(3, 4), None
    )
    assert not x.transpose(3, 4).contiguous().transpose(3, 4).is_contiguous()
    assert torch.equal(slow, expected)


def test_gated_max_pool_leaves_the_counts_argument_alone():
    x = _spikes((3, 1, 2, 4, 4), seed=0)
    counts = torch.ones(1, 2, 4, 4)
    gated_max_pool(SpikeMaxPool2d(2), x, counts)
    assert torch.equal(counts, torch.ones(1, 2, 4, 4))
