import pytest
import torch
from torch import nn

from neurosnn.networks import NetworkSpec, create_network, list_networks, register_network


@pytest.mark.parametrize("name", list_networks())
@pytest.mark.parametrize(
    "options", [{"pool": "avg"}, {"pool": "max", "batch_norm": True, "bias": True}]
)
def test_every_network_runs_forward_and_backward(name, options):
    torch.manual_seed(0)
    model = create_network(
        name, num_classes=7, in_channels=1, input_size=28, width=1 / 16, **options
    )
    x = torch.randn(3, 1, 28, 28, requires_grad=True)
    out = model(x)
    assert out.shape == (3, 7)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_pools_stop_at_one_pixel():
    model = create_network("vgg16", 10, 1, 28, width=1 / 16)
    pools = [m for m in model.features if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == 4  # 28 → 14 → 7 → 3 → 1; the fifth pool is dropped
    assert model.features(torch.zeros(1, 1, 28, 28)).shape[-1] == 1


def test_vgg15_is_13_conv_2_fc():
    model = create_network("vgg15", 10, 3, 32, width=1 / 16)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert (len(convs), len(fcs)) == (13, 2)


def test_defaults_follow_conversion_constraints():
    model = create_network("vgg9", 10, 3, 32)
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    assert not any(isinstance(m, nn.BatchNorm2d | nn.MaxPool2d) for m in model.modules())


def test_spec_rebuilds_the_same_architecture():
    model = create_network("vgg5", 4, 1, 8, width=0.25, pool="max")
    again = NetworkSpec(**vars(model.spec)).build()
    assert [p.shape for p in model.parameters()] == [p.shape for p in again.parameters()]
    again.load_state_dict(model.state_dict())


def test_registry_errors():
    with pytest.raises(KeyError, match="unknown network 'vgg99'"):
        create_network("vgg99")
    with pytest.raises(ValueError, match="already registered"):
        register_network("vgg9")(lambda **kw: None)
    with pytest.raises(ValueError, match="pool must be"):
        create_network("vgg5", pool="median")
    with pytest.raises(ValueError, match="in_channels"):
        create_network("vgg5", in_channels=0)


def test_qcfs_by_hand_and_its_straight_through_gradient():
    from neurosnn.networks.blocks import QCFS

    act = QCFS(levels=4, threshold=2.0)
    x = torch.tensor([-1.0, 0.2, 0.3, 1.0, 2.5], requires_grad=True)
    y = act(x)  # λ·floor(clip(x/λ, 0, 1)·L + 1/2)/L
    assert torch.equal(y.detach(), torch.tensor([0.0, 0.0, 0.5, 1.0, 2.0]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))  # clip's, floor passed
    assert act.threshold.grad is not None and float(act.threshold.grad) != 0
    with pytest.raises(ValueError, match="levels"):
        QCFS(levels=0)


def test_qcfs_networks_train_and_refuse_backres():
    from neurosnn.networks.blocks import QCFS

    model = create_network("vgg5", 4, 1, 8, width=0.25, activation="qcfs", levels=4)
    acts = [m for m in model.modules() if isinstance(m, QCFS)]
    assert len(acts) == 4 and not any(isinstance(m, nn.ReLU) for m in model.modules())
    model(torch.randn(3, 1, 8, 8)).sum().backward()
    assert all(a.threshold.grad is not None for a in acts)
    with pytest.raises(NotImplementedError, match="BackRes"):
        create_network("vgg2x4", 4, 1, 8, activation="qcfs")
    with pytest.raises(ValueError, match="activation must be"):
        create_network("vgg5", 4, 1, 8, activation="gelu")
