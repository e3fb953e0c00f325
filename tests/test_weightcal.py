"""Weight calibration (Li et al. 2021, the weight step of "advanced"): its neuron model is the
IF neuron the SNN runs, a step follows the hand-computed straight-through gradient, it moves
only the weights of each layer's main path, and refuses max pooling. Whether it lowers the
loss or the steps an SNN needs is measured by the latency job, not tested (on these toy layers,
whose inputs carry no error to correct, it does not)."""

import pytest
import torch
from torch import nn

from neurosnn.conversion import convert
from neurosnn.conversion.weightcal import calibrate_weights, if_rate
from neurosnn.errors import UserError
from tests.test_biascal import pointwise_model
from tests.test_graph_convert import TinyResNet, init


@pytest.mark.parametrize("phi", [0.0, 0.5])
def test_its_rate_is_the_if_neurons_under_a_constant_current(phi):
    torch.manual_seed(0)
    x = torch.rand(16, 1, 2, 2)
    snn = convert(pointwise_model(), [x], (1, 2, 2))
    snn.set_phi(phi)
    first = snn.if_names[0]
    offset = 0.3 * torch.randn(snn.layer(first).offset.shape)
    snn.set_offsets({first: offset})
    T = 12
    net = snn.as_module(delay="none")
    counts = sum(net(x) is not None and net.spikes[first].float() for _ in range(T))
    theta = snn.thresholds[0]
    op = snn.connection(first).weighted
    expected = if_rate(op(x), theta, phi, offset, T)
    assert torch.equal(counts * theta / T, expected)


def test_one_step_follows_the_hand_computed_straight_through_gradient():
    """Adam's first step moves each weight by -lr · sign(gradient): over all images at once,
    the gradient of mean_i Σ (Q(Wx + b) - a)² with the floor passed through, by hand."""
    torch.manual_seed(0)
    x = torch.rand(64, 1, 2, 2)
    model = pointwise_model()
    snn = convert(model, [x], (1, 2, 2))
    snn.set_phi(0.5)
    T, lr, theta = 6, 1e-3, snn.thresholds[0]
    op = snn.connection(snn.if_names[0]).weighted
    w, b = op.weight.detach().clone(), op.bias.detach().clone()
    a = torch.relu(model[0](x)).detach()  # the ANN's first activation (no BatchNorm to fold)
    z = nn.functional.conv2d(x, w, b)
    count = (T * z + 0.5 * theta) / theta
    q = count.clamp(0, T).floor() * theta / T
    inside = ((count >= 0) & (count <= T)).float()
    grad = torch.einsum("nohw,nchw->oc", 2 * (q - a) * inside, x) / len(x)
    calibrate_weights(snn, [x], T, iterations=1, lr=lr, batch_size=len(x))
    moved = (op.weight - w).flatten(1)
    assert torch.allclose(moved, -lr * grad.sign(), atol=1e-7)
    assert torch.equal(op.bias, b) and not op.weight.requires_grad


def test_at_a_residual_merge_only_the_main_path_moves():
    torch.manual_seed(0)
    model = init(TinyResNet())
    x = torch.randn(32, 2, 8, 8)
    snn = convert(model, [x], (2, 8, 8))
    shortcut = snn.connection("block2.conv2", "block1.conv2").weighted
    main = snn.connection("block2.conv2", "block2.conv1").weighted
    before = shortcut.weight.clone(), main.weight.clone()
    losses = calibrate_weights(snn, [x], 8, iterations=50, lr=1e-3, batch_size=8)
    assert list(losses) == snn.if_names
    assert torch.equal(shortcut.weight, before[0]) and not torch.equal(main.weight, before[1])


def test_max_pooling_and_bad_settings_are_refused():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2)
    ).eval()
    x = torch.rand(8, 1, 4, 4)
    snn = convert(model, [x], (1, 4, 4))
    with pytest.raises(UserError, match="max pooling"):
        calibrate_weights(snn, [x], 4, iterations=1)
    plain = convert(pointwise_model(), [torch.rand(8, 1, 2, 2)], (1, 2, 2))
    with pytest.raises(UserError, match="iterations and batch_size must be >= 1"):
        calibrate_weights(plain, [torch.rand(8, 1, 2, 2)], 4, iterations=0)


def test_the_latency_job_calibrates_weights_then_potentials(tmp_path, monkeypatch):
    from neurosnn.conversion.biascal import calibrate_potentials
    from neurosnn.io.data import synthetic
    from neurosnn.io.snnfile import load_snn
    from neurosnn.jobs import prepare
    from neurosnn.jobs.latency import RECIPES, LatencyConfig, measure_latency
    from neurosnn.simulation.run import simulate

    fit = {"iterations": 40, "lr": 1e-3, "batch_size": 16}  # the authors' 5,000 take minutes
    monkeypatch.setattr(prepare, "WEIGHT_CALIBRATION", fit)

    data = synthetic(n_train=128, n_test=16, num_classes=5, in_channels=2, input_size=8, seed=0)
    torch.manual_seed(0)
    model = init(TinyResNet())
    name = "phi+onset+channelwise+weights"
    cfg = LatencyConfig(recipes=(name,), timesteps=8, test_images=16, calib_images=128)
    measure_latency(model, data, cfg, tmp_path, progress=False)
    recipe = RECIPES[name]
    x = next(data.train.random_subset(128, 0).batches(256))[0]
    expected = recipe.convert(model, [x], (2, 8, 8))
    recipe.set_on(expected, list(expected.thresholds))
    calibrate_weights(expected, [x], recipe.calibration_timesteps, **fit)
    calibrate_potentials(expected, [x], recipe.calibration_timesteps)
    saved, _ = load_snn(tmp_path / f"{name}.snn.h5")
    for n in saved.if_names:
        main = saved.sources(n)[0]
        a, b = saved.connection(n, main).weighted, expected.connection(n, main).weighted
        assert torch.equal(a.weight, b.weight)
    y = torch.zeros(8, dtype=torch.long)
    runs = [simulate(s, [(x[:8], y)], 12, delay="none") for s in (saved, expected)]
    for n in saved.if_names:
        assert torch.equal(runs[0].spike_counts[n], runs[1].spike_counts[n])
