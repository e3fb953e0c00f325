import pytest
import torch
import torch.nn.functional as F

from neurosnn.learn.surrogate.agd import (
    AGDConfig,
    SpikingNet,
    TrainAGDConfig,
    evaluate_agd,
    train_agd,
)
from neurosnn.networks import create_network


def vgg5(seed=0):
    torch.manual_seed(seed)
    return create_network("vgg5", 4, 1, 8, width=0.125, bias=True).eval()


def test_all_relu_hybrid_is_the_ann():
    model = vgg5()
    net = SpikingNet(model, AGDConfig(timesteps=6, relu_layers=4), (1, 8, 8))
    assert net.spiking_names == []
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        logp = net.log_probs(net(x))
        expected = F.log_softmax(model(x), dim=1)
    for t in range(6):  # the same current every step: its mean is the ANN's logits
        torch.testing.assert_close(logp[t], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "cfg", [AGDConfig(timesteps=5), AGDConfig(5, relu_layers=1, stochmax=True)]
)
def test_shapes_and_gradients_reach_every_layer(cfg):
    net = SpikingNet(vgg5(), cfg, (1, 8, 8))
    x, y = torch.randn(6, 1, 8, 8) * 3, torch.randint(4, (6,))
    run = net(x)
    assert run.output.shape == (5, 6, 4) and run.hidden.shape[:2] == (5, 6)
    assert set(run.layer_spikes) == set(net.spiking_names)
    assert float(run.spikes.detach().sum()) == pytest.approx(sum(run.layer_spikes.values()))
    net.loss(run, y).backward()
    for p in net.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert sum(float(p.grad.abs().sum()) for p in net.stages[-1].parameters()) > 0


def test_training_learns_and_the_sparsity_term_cuts_spikes(data):
    results = {}
    for sigma0 in (0.0, 0.05):
        net = SpikingNet(vgg5(), AGDConfig(timesteps=8), (1, 8, 8))
        cfg = TrainAGDConfig(epochs=3, batch_size=32, lr=3e-3, sparsity="constant", sigma0=sigma0)
        history = train_agd(net, data.train, cfg, progress=False)
        results[sigma0] = (history, evaluate_agd(net, data.test))
    plain, sparse = results[0.0][1], results[0.05][1]
    assert len(plain["accuracy"]) == 8 and plain["accuracy"][-1] > 0.5  # 4 classes: chance 0.25
    assert sparse["spikes_per_image"] < 0.7 * plain["spikes_per_image"]
    assert results[0.0][0][-1]["loss"] < results[0.0][0][0]["loss"]


def test_bad_hybrid_split():
    with pytest.raises(ValueError, match="relu_layers"):
        SpikingNet(vgg5(), AGDConfig(relu_layers=5), (1, 8, 8))


def test_backres_agd_shares_weights_across_unrolling_steps():
    """AGD of a BackRes net (Panda et al. §4.2): each unrolling step has its own LIF population,
    the convolution is one tensor, and its gradient is the sum of the gradients of the steps
    (checked against the same net with the steps untied into copies)."""
    import copy

    torch.manual_seed(0)
    model = create_network("vgg2x4", 4, 1, 8, width=0.125)
    tied = SpikingNet(model, AGDConfig(timesteps=4, theta=0.5), (1, 8, 8))
    steps = [n for n in tied.names if "@" in n]
    assert steps == [f"features.3.convs.0@{k}" for k in range(1, 5)]
    assert sum(p.numel() for p in tied.parameters()) == sum(p.numel() for p in model.parameters())
    untied = copy.deepcopy(tied)
    copies = []
    for name, stage in zip(untied.names, untied.stages, strict=True):
        if "@" in name:
            i = next(i for i, m in enumerate(stage) if isinstance(m, torch.nn.Conv2d))
            stage[i] = copy.deepcopy(stage[i])
            copies.append(stage[i])
    x, y = torch.rand(6, 1, 8, 8) * 4, torch.randint(4, (6,))
    runs = [net(x) for net in (tied, untied)]
    torch.testing.assert_close(runs[0].output, runs[1].output)
    assert all(runs[0].layer_spikes[n] > 0 for n in steps)
    for net, run in zip((tied, untied), runs, strict=True):
        net.loss(run, y).backward()
    shared = next(m for m in tied.stages[1] if isinstance(m, torch.nn.Conv2d)).weight.grad
    torch.testing.assert_close(shared, sum(c.weight.grad for c in copies))
    assert float(shared.abs().sum()) > 0
