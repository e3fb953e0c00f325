import pytest
import torch
import torch.nn.functional as F

from networks import create_network
from neurosnn.surrogate.agd import AGDConfig, SpikingNet, TrainAGDConfig, evaluate_agd, train_agd


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
