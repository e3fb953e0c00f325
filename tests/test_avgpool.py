import pytest
import torch

from neurosnn.avgpool import _window, avg_pool


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
    for y in (x.double(), x.transpose(2, 3), x.requires_grad_()):
        out = avg_pool(m, y)
        assert out.dtype == y.dtype and torch.allclose(out.detach().float(), m(y).detach().float())
