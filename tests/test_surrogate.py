import math

import pytest
import torch
import torch.nn.functional as F

from neurosnn.conversion import convert
from neurosnn.learn.surrogate.finetune import FinetuneConfig, bptt_step, finetune
from neurosnn.learn.surrogate.network import SurrogateSNN
from neurosnn.learn.surrogate.neurons import LIF, if_step, lif_step
from neurosnn.learn.surrogate.sparsity import SCHEDULES, included, sparsity_loss, weight
from neurosnn.learn.surrogate.spike import SURROGATES, spike, surrogate
from neurosnn.learn.surrogate.stochmax import StochMax, stochmax_log_probs, stochmax_loss
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg


@pytest.mark.parametrize("name", list(SURROGATES))
def test_backward_is_the_derivative_of_the_smooth_stand_in(name):
    fn = surrogate(name)
    # away from the kinks of |V| (0 and ±1), where central differences are O(h) off
    v = torch.linspace(-1.7, 1.7, 40, dtype=torch.float64)
    assert ((v.abs() - 1).abs().min() > 1e-3) and v.abs().min() > 1e-3
    v.requires_grad_(True)
    (grad,) = torch.autograd.grad(spike(v, fn).sum(), v)
    h = 1e-6
    finite = (fn.primitive(v.detach() + h) - fn.primitive(v.detach() - h)) / (2 * h)
    torch.testing.assert_close(grad, finite, rtol=1e-6, atol=1e-8)
    assert torch.equal(spike(v, fn), (v >= 0).double())  # forward: Heaviside


def test_linear_surrogate_is_bellec_with_gamma():
    fn = surrogate("linear", gamma=0.15)
    v = torch.tensor([-1.5, -0.5, 0.0, 0.25, 2.0])
    assert torch.allclose(fn.derivative(v), 0.15 * torch.tensor([0, 0.5, 1, 0.75, 0]))
    with pytest.raises(ValueError, match="unknown surrogate"):
        surrogate("relu")


def test_if_constant_input_fires_floor_t_c_over_vth():
    fn = surrogate("linear")
    c = torch.tensor([0.375, 0.5, 0.125, 1.0, 0.0])
    v, total = torch.zeros(5), torch.zeros(5)
    for t in range(1, 65):
        s, v = if_step(c, v, 1.0, fn)
        total += s
        assert torch.equal(total, torch.floor(t * c))


def test_lif_by_hand():
    fn = surrogate("linear")
    x = torch.tensor([0.625])  # binary fractions: every step below is exact
    s, v = lif_step(x, torch.tensor([0.5]), 1.0, 0.5, fn)  # 0.25 + 0.625 = 0.875: silent
    assert s.item() == 0 and v.item() == 0.875
    s, v = lif_step(x, v, 1.0, 0.5, fn)  # 0.4375 + 0.625 = 1.0625: fires, 0.0625 left
    assert s.item() == 1 and v.item() == 0.0625
    s, v = lif_step(x, torch.tensor([0.9]), 1.0, 1.0, fn, reset="zero")
    assert s.item() == 1 and v.item() == 0
    with pytest.raises(ValueError, match="leak"):
        LIF(leak=1.5)


def converted(data, pool="avg"):
    snn = convert(tiny_vgg(pool=pool), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    snn.set_thresholds([t * f for t, f in zip(snn.thresholds, (0.5, 0.8, 1.3, 0.7), strict=True)])
    return snn


@pytest.mark.parametrize("delay", ["layer", "none"])
@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize("onset, phi", [("always", 0.0), ("input", (0.5, 0.25, 0.75, 0.5))])
def test_unrolled_network_spikes_like_bindsnet(data, delay, pool, onset, phi):
    snn = converted(data, pool)
    snn.set_phi(phi)
    x, y = next(data.test.batches(12))
    net = SurrogateSNN(snn, delay=delay, bias_onset=onset)
    with torch.no_grad():
        out = net(x, 18)
    ref = simulate(snn, [(x, y)], 18, engine="reference", delay=delay, bias_onset=onset)
    total = sum(int(c.sum()) for c in ref.spike_counts.values())
    assert int(out.spikes.sum()) == total > 0
    assert torch.equal(out.output[-1].argmax(1), ref.predictions)
    # per-step correctness equals bindsnet's accuracy curve
    answered = out.output.ne(0).any(-1)
    correct = ((out.output.argmax(-1) == y) & answered).sum(1)
    assert torch.equal(correct, ref.correct)


@pytest.mark.parametrize("delay", ["layer", "none"])
@pytest.mark.parametrize("onset", ["always", "input"])
def test_unrolled_residual_network_spikes_like_bindsnet(delay, onset):
    from tests.test_graph_engine import resnet_snn

    snn, x = resnet_snn(phi=0.5)
    y = torch.zeros(len(x), dtype=torch.long)
    with torch.no_grad():
        out = SurrogateSNN(snn, delay=delay, bias_onset=onset)(x, 18)
    ref = simulate(snn, [(x, y)], 18, engine="reference", delay=delay, bias_onset=onset)
    total = sum(int(c.sum()) for c in ref.spike_counts.values())
    assert int(out.spikes.sum()) == total > 0
    assert torch.equal(out.output[-1].argmax(1), ref.predictions)


def test_weights_round_trip_and_gradients_reach_every_layer(data):
    snn = converted(data)
    net = SurrogateSNN(snn)
    x, y = next(data.train.batches(16))
    loss = F.cross_entropy(net(x, 10).logits(), y)
    loss.backward()
    for stage in net.stages:
        w = next(p for p in stage.parameters() if p.dim() > 1)
        assert w.grad is not None and w.grad.abs().sum() > 0
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.1)
    net.export_to(snn)
    again = SurrogateSNN(snn)
    for a, b in zip(net.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bptt_fine_tuning_lowers_the_loss(data):
    snn = converted(data)
    net = SurrogateSNN(snn)
    x, y = next(data.train.batches(64))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    first = bptt_step(net, x, y, 12, opt)
    for _ in range(15):
        last = bptt_step(net, x, y, 12, opt)
    assert last < first
    history = finetune(net, data.train, FinetuneConfig(timesteps=8, max_batches=2), progress=False)
    assert len(history) == 1 and math.isfinite(history[0]["loss"])


def test_sparsity_schedules_by_hand():
    s0, n_epochs = 0.01, 5
    assert [included(n, 5) for n in range(1, 6)] == [0, 0, 0, 1, 1]
    assert [included(n, 9) for n in range(1, 10)] == [0, 0, 0, 0, 1, 0, 1, 1, 1]
    assert weight("constant", s0, 3, n_epochs) == s0
    assert weight("linear", s0, 3, n_epochs) == pytest.approx(s0 * 3 / 5)
    assert weight("quadratic", s0, 3, n_epochs) == pytest.approx(s0 * 9 / 5)
    assert weight("alternating", s0, 3, n_epochs) == 0
    assert weight("alternating", s0, 4, n_epochs) == s0
    assert weight("alternating-linear", s0, 4, n_epochs) == pytest.approx(s0 * 4 / 5)
    counts = torch.tensor([100.0, 300.0])
    assert sparsity_loss(counts, "linear", s0, 3, 5).item() == pytest.approx(s0 * 0.6 * 200)
    assert set(SCHEDULES) == {
        "constant",
        "linear",
        "quadratic",
        "alternating",
        "alternating-linear",
    }
    with pytest.raises(ValueError, match="epoch"):
        weight("linear", s0, 6, 5)


def test_stochmax_masks_only_non_target_classes():
    torch.manual_seed(0)
    head = StochMax(6, 5)
    h, target = torch.randn(200, 6), torch.randint(5, (200,))
    o, rho = head(h)
    logp = stochmax_log_probs(o, rho, target, torch.Generator().manual_seed(1))
    dropped = torch.isinf(logp)
    assert not dropped.gather(1, target.unsqueeze(1)).any()  # the target is never dropped
    assert dropped.any()  # some non-target classes are
    # ρ = 1: the masked and the expected forms are the softmax
    ones = torch.ones_like(rho)
    torch.testing.assert_close(stochmax_log_probs(o, ones, target), F.log_softmax(o, 1))
    torch.testing.assert_close(stochmax_log_probs(o, ones), F.log_softmax(o, 1))
    loss = stochmax_loss(o, rho, target)
    loss.backward()
    assert head.retain.weight.grad.abs().sum() > 0 and head.scores.weight.grad.abs().sum() > 0
