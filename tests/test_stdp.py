"""Layer-wise STDP: the BindsNET rule on a conv connection against a hand-worked example, the LIF
and trace scans against BindsNET's nodes, frozen layers, BackRes k×n updates, competition."""

import math
from dataclasses import replace

import pytest
import torch
from bindsnet.network.nodes import Input, LIFNodes

from neurosnn.io.data import synthetic
from neurosnn.learn.readout import SameTopologyANN, build_classifier
from neurosnn.learn.stdp import (
    ConvSpec,
    STDPConfig,
    STDPLayer,
    STDPNet,
    kernel_change,
    kernel_similarity,
    lif_scan,
    normalise_kernels,
    spike_features,
    trace_scan,
    train_layerwise,
    winners,
)


def test_lif_scan_equals_bindsnet_lif_nodes():
    torch.manual_seed(0)
    nodes = LIFNodes(shape=(3, 4), thresh=0.75, rest=0.0, reset=0.0, refrac=0, tc_decay=7.0)
    nodes.compute_decays(1.0)
    nodes.set_batch_size(2)
    current = torch.rand(12, 2, 3, 4) * 0.5
    expected_s, expected_v = [], []
    for t in range(12):
        nodes.forward(current[t].clone())
        expected_s.append(nodes.s.float())
        expected_v.append(nodes.v.clone())
    s, v = lif_scan(current[:7], torch.zeros(2, 3, 4), 0.75, nodes.decay)
    s2, v = lif_scan(current[7:], v, 0.75, nodes.decay)  # state carried across windows
    assert torch.equal(torch.cat([s, s2]), torch.stack(expected_s))
    assert torch.equal(v, expected_v[-1])
    assert 0 < torch.cat([s, s2]).mean() < 1


def test_lateral_inhibition_lets_only_the_strongest_map_fire():
    torch.manual_seed(0)
    current = torch.rand(6, 2, 4, 3, 3)  # [τ, B, C, H, W]
    free, _ = lif_scan(current, torch.zeros(2, 4, 3, 3), 0.5, torch.tensor(0.9))
    s, _ = lif_scan(current, torch.zeros(2, 4, 3, 3), 0.5, torch.tensor(0.9), inhibit=True)
    assert free.sum(2).max() > 1  # without inhibition several maps fire at one position
    assert s.sum(2).max() == 1 and s.sum() > 0
    first = current[0]  # the first step: the winner is the map with the largest current
    winner = first.argmax(1, keepdim=True)
    expected = torch.zeros_like(first).scatter_(1, winner, 1) * (first >= 0.5)
    assert torch.equal(s[0], expected)


def test_trace_scan_equals_bindsnet_traces():
    torch.manual_seed(0)
    nodes = Input(shape=(5,), traces=True, tc_trace=3.0)
    nodes.compute_decays(1.0)
    nodes.set_batch_size(2)
    spikes = torch.rand(9, 2, 5) < 0.3
    expected = []
    for t in range(9):
        nodes.forward(spikes[t].clone())
        expected.append(nodes.x.clone())
    x, last = trace_scan(spikes.float(), torch.zeros(2, 5), nodes.trace_decay)
    assert torch.equal(x, torch.stack(expected)) and torch.equal(last, expected[-1])


def one_kernel_layer(rule: str, nu=(0.1, 0.2), reduction="mean", backend="bindsnet") -> STDPLayer:
    cfg = STDPConfig(rule=rule, nu=nu, reduction=reduction, kernel_norm=1.0, backend=backend)
    spec = ConvSpec(1, kernel=3, pool=1)
    return STDPLayer("conv1", (1, 3, 3), spec, cfg, torch.Generator().manual_seed(0))


def hand_example():
    """Pre spike at the centre, pre trace 0.5 at (0,0); post spike at (0,0), post trace 0.25 at
    (2,2). With padding 1, kernel tap k links post pixel p to pre pixel p + k − 1:
    potentiation (post spike × pre trace) at taps (1,1) by 0.5 and (2,2) by 1; depression
    (pre spike × post trace) at taps (2,2) by 1 and (0,0) by 0.25."""
    pre = torch.zeros(1, 1, 1, 3, 3)  # [τ, B, C, H, W]
    pre[..., 1, 1] = 1
    pre_x = pre.clone()
    pre_x[..., 0, 0] = 0.5
    post = torch.zeros(1, 1, 1, 3, 3)
    post[..., 0, 0] = 1
    post_x = post.clone()
    post_x[..., 2, 2] = 0.25
    potentiation = torch.zeros(1, 1, 3, 3)
    potentiation[..., 1, 1], potentiation[..., 2, 2] = 0.5, 1.0
    depression = torch.zeros(1, 1, 3, 3)
    depression[..., 2, 2], depression[..., 0, 0] = 1.0, 0.25
    return (pre, pre_x, post, post_x), potentiation, depression


@pytest.mark.parametrize("backend", ["bindsnet", "torch"])
def test_postpre_update_on_conv_connection_equals_hand_example(backend):
    layer = one_kernel_layer("postpre", backend=backend)
    w0 = layer.weight.clone()
    spikes, pot, dep = hand_example()
    layer.learn(*spikes)
    expected = normalise_kernels((w0 + 0.2 * pot - 0.1 * dep).clamp(-1, 1), 1.0)
    torch.testing.assert_close(layer.weight, expected)
    assert layer.updates == 1
    assert not torch.allclose(layer.weight, w0)


@pytest.mark.parametrize("backend", ["bindsnet", "torch"])
def test_the_learning_rate_schedule_scales_the_update(backend):
    layer = one_kernel_layer("postpre", backend=backend)
    w0 = layer.weight.clone()
    spikes, pot, dep = hand_example()
    layer.nu_scale = 0.5
    layer.learn(*spikes)
    expected = normalise_kernels((w0 + 0.5 * (0.2 * pot - 0.1 * dep)).clamp(-1, 1), 1.0)
    torch.testing.assert_close(layer.weight, expected)


def test_nu_decay_reaches_its_fraction_geometrically_at_the_last_batch(images, monkeypatch):
    seen = []
    learn = STDPLayer.learn
    monkeypatch.setattr(
        STDPLayer, "learn", lambda self, *a: (seen.append(self.nu_scale), learn(self, *a))
    )
    cfg = STDPConfig(timesteps=6, updates=2, target_rate=0.1, nu_decay=0.25)
    net = STDPNet([ConvSpec(4, 3)], (1, 8, 8), cfg)
    train_layerwise(net, images.train, images.mean, images.std, 8, progress=False)
    per_batch = [0.25 ** (i / 3) for i in range(4)]  # 32 images in 4 batches
    assert seen == pytest.approx([s for s in per_batch for _ in range(2)])  # k = 2 a batch


@pytest.mark.parametrize("backend", ["bindsnet", "torch"])
def test_weight_dependent_update_equals_hand_example(backend):
    layer = one_kernel_layer("weight-dependent", backend=backend)
    w0 = layer.weight.clone()
    spikes, pot, dep = hand_example()
    layer.learn(*spikes)
    update = 0.2 * pot * (1 - w0) - 0.1 * dep * (w0 + 1)  # wmax − w, w − wmin
    torch.testing.assert_close(layer.weight, normalise_kernels((w0 + update).clamp(-1, 1), 1.0))


@pytest.mark.parametrize("reduction,factor", [("mean", 1.0), ("sum", 2.0)])
def test_batch_reduction_is_explicit(reduction, factor):
    """Two identical samples stacked: the mean gives one sample's update, the sum twice it."""
    layer = one_kernel_layer("postpre", reduction=reduction)
    w0 = layer.weight.clone()
    spikes, pot, dep = hand_example()
    layer.learn(*[torch.cat([s, s], dim=1) for s in spikes])  # batch of 2
    expected = normalise_kernels((w0 + factor * (0.2 * pot - 0.1 * dep)).clamp(-1, 1), 1.0)
    torch.testing.assert_close(layer.weight, expected)


@pytest.mark.parametrize("rule", ["postpre", "weight-dependent"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_torch_backend_equals_the_bindsnet_rule(rule, reduction):
    """Random spikes and traces, 3 input and 5 output maps, a window of 4 steps × 3 images."""
    gen = torch.Generator().manual_seed(1)
    spec, layers = ConvSpec(5, 3, pool=1), []
    for backend in ("bindsnet", "torch"):
        cfg = STDPConfig(rule=rule, reduction=reduction, nu=(0.02, 0.05), backend=backend)
        layers.append(STDPLayer("c", (3, 6, 6), spec, cfg, torch.Generator().manual_seed(0)))
    pre = (torch.rand(4, 3, 3, 6, 6, generator=gen) < 0.3).float()
    post = (torch.rand(4, 3, 5, 6, 6, generator=gen) < 0.2).float()
    traces = (torch.rand(4, 3, 3, 6, 6, generator=gen), torch.rand(4, 3, 5, 6, 6, generator=gen))
    for layer in layers:
        layer.learn(pre, traces[0], post, traces[1])
    torch.testing.assert_close(layers[1].weight, layers[0].weight, rtol=1e-5, atol=1e-6)
    assert not torch.equal(
        layers[0].weight,
        STDPLayer("c", (3, 6, 6), spec, cfg, torch.Generator().manual_seed(0)).weight,
    )


def small_net(cfg=None, seed=0) -> STDPNet:
    cfg = cfg or STDPConfig(timesteps=12, updates=3, target_rate=0.1, dropout=0.25)
    specs = [ConvSpec(4, 3), ConvSpec(4, 3, repeat=2)]
    return STDPNet(specs, (1, 8, 8), cfg, seed=seed)


@pytest.fixture
def images():
    return synthetic(n_train=32, n_test=16, num_classes=4, in_channels=1, input_size=8, seed=0)


def test_frozen_layers_stay_bit_identical_while_a_later_layer_trains(images):
    net = small_net()
    train_layerwise(net, images.train, images.mean, images.std, batch_size=8, progress=False)
    first = net.layers[0].state_dict()
    second = net.layers[1].weight.clone()
    train_layerwise(
        net, images.train, images.mean, images.std, batch_size=8, layers=[1], progress=False
    )
    assert torch.equal(net.layers[0].weight, first["weight"])
    assert net.layers[0].thresholds == first["thresholds"]
    assert not torch.equal(net.layers[1].weight, second)


def test_backres_layer_makes_k_times_n_updates_and_kernels_stay_normalised(images):
    net = small_net()
    history = train_layerwise(
        net, images.train, images.mean, images.std, batch_size=8, progress=False
    )
    batches, k = 4, net.cfg.updates
    assert net.layers[0].updates == batches * k
    assert net.layers[1].updates == batches * k * 2  # repeat n = 2
    assert set(history) == {"conv1", "conv2@1", "conv2@2"}
    assert all(len(h) == batches for h in history.values())
    for layer in net.layers:
        w = layer.weight.flatten(1)
        torch.testing.assert_close(w.mean(1), torch.zeros(4), atol=1e-6, rtol=0)
        torch.testing.assert_close(w.norm(dim=1), torch.ones(4))
    assert len(net.layers[1].thresholds) == 2


def test_training_is_deterministic_and_the_control_only_adapts_thresholds(images):
    nets = [small_net() for _ in range(3)]
    for net, learn in zip(nets, (True, True, False), strict=True):
        train_layerwise(
            net, images.train, images.mean, images.std, 8, learn_weights=learn, progress=False
        )
    (a, b, control), fresh = nets, small_net()
    for la, lb, lc, lf in zip(a.layers, b.layers, control.layers, fresh.layers, strict=True):
        assert torch.equal(la.weight, lb.weight)
        assert la.threshold_values() == lb.threshold_values()
        assert torch.equal(lc.weight, lf.weight)  # random kernels never learn
        assert lc.threshold_values() != lf.threshold_values() and lc.updates == 0
        assert not torch.equal(la.weight, lf.weight)


def test_threshold_adaptation_moves_the_rate_toward_the_target():
    cfg = STDPConfig(homeostasis="layer", kernel_norm=1.0)  # one θ per layer (Lee et al.)
    layer = STDPLayer(
        "conv1", (1, 3, 3), ConvSpec(1, kernel=3, pool=1), cfg, torch.Generator().manual_seed(0)
    )
    cfg = layer.cfg
    layer.adapt(0, cfg.target_rate)
    assert layer.thresholds == [cfg.theta0]
    layer.adapt(0, 2 * cfg.target_rate)  # too many spikes: raise θ by exp(η)
    assert layer.thresholds[0] == pytest.approx(cfg.theta0 * math.exp(cfg.threshold_lr))
    layer.adapt(0, 0.0)  # silent: lower it by exp(−η)
    assert layer.thresholds[0] == pytest.approx(cfg.theta0)


def test_per_map_homeostasis_moves_each_maps_threshold_toward_the_target():
    """homeostasis="map": each map's θ follows its own rate (Diehl & Cook 2015's adaptive
    threshold, per map); a map that fires too much rises, a silent one falls, one on target
    stays; lif_scan takes the thresholds per map."""
    cfg = STDPConfig(homeostasis="map", kernel_norm=1.0, target_rate=0.1)
    layer = STDPLayer(
        "conv1", (1, 3, 3), ConvSpec(3, kernel=3, pool=1), cfg, torch.Generator().manual_seed(0)
    )
    layer.adapt(0, torch.tensor([0.2, 0.0, 0.1]))
    eta = cfg.threshold_lr
    expected = cfg.theta0 * torch.tensor([math.exp(eta), math.exp(-eta), 1.0])
    torch.testing.assert_close(layer.thresholds[0], expected)
    assert layer.threshold_values() == [expected.tolist()]
    v = torch.zeros(1, 3, 1, 1)
    spikes, _ = lif_scan(torch.full((1, 1, 3, 1, 1), 1.0), v, layer.threshold(0), torch.tensor(1.0))
    assert spikes.flatten().tolist() == [0.0, 1.0, 1.0]  # 1 >= θ only where θ fell or stayed


def test_per_map_homeostasis_spreads_the_firing_over_the_maps(images):
    """With one threshold per map, each adapted to its own rate, the thresholds part and no
    map is left silent in the trained layer."""
    cfg = STDPConfig(timesteps=12, updates=3, target_rate=0.1, dropout=0.0, homeostasis="map")
    net = STDPNet([ConvSpec(4, 3)], (1, 8, 8), cfg, seed=0)
    train_layerwise(net, images.train, images.mean, images.std, 8, progress=False)
    theta = net.layers[0].thresholds[0]
    assert theta.shape == (4,) and len(set(theta.tolist())) == 4
    counts = spike_features(net, images.test, images.mean, images.std, progress=False).counts
    assert bool((counts.sum((0, 2, 3)) > 0).all())


def test_features_count_spikes_of_the_last_pooled_layer(images):
    net = small_net()
    f = spike_features(net, images.test, images.mean, images.std, batch_size=8, progress=False)
    assert f.counts.shape == (16, 4, 2, 2) and f.counts.dtype == torch.uint8
    assert torch.equal(f.labels, images.test.labels)
    assert int(f.counts.max()) <= net.cfg.timesteps
    assert int(f.counts.sum()) == int(f.step_spikes["conv2:pool"].sum())
    assert all(len(s) == net.cfg.timesteps for s in f.step_spikes.values())
    again = spike_features(net, images.test, images.mean, images.std, 8, progress=False)
    assert torch.equal(f.counts, again.counts)  # seeded input spikes


def test_energy_of_a_one_layer_toy_equals_a_hand_count():
    cfg = STDPConfig(timesteps=4, updates=1)
    net = STDPNet([ConvSpec(2, 3)], (1, 4, 4), cfg)
    clf = build_classifier("fc", net.output_shape, 3, hidden=5)
    spikes = {
        "input": torch.tensor([8.0, 0, 0, 0]),  # 8 input spikes over 2 images × 16 pixels × 4 steps
        "conv1": torch.tensor([4.0, 4, 4, 4]),
        "conv1:pool": torch.tensor([2.0, 2, 2, 2]),
    }
    e = net.energy(spikes, n_images=2, classifier=clf)
    conv_macs = 2 * 4 * 4 * 1 * 9  # C_out·H·W·C_in·k²
    fc_macs = 2 * 2 * 2 * 5 + 5 * 3
    assert e.layers == ["input", "conv1", "classifier"]
    assert e.ann_macs == [0, conv_macs, fc_macs]
    assert e.snn_ops[1] == pytest.approx(conv_macs * 8 / (16 * 2 * 4) * 4)  # AC × SA × T
    assert e.snn_ops[2] == fc_macs and e.spiking == [False, True, False]
    ann = (conv_macs + fc_macs) * 3.2
    assert e.efficiency == pytest.approx(ann / (e.snn_ops[1] * 0.1 + fc_macs * 3.2))


def test_bad_configurations_name_the_argument():
    with pytest.raises(ValueError, match="updates"):
        STDPConfig(timesteps=10, updates=3)
    with pytest.raises(ValueError, match="kernel"):
        ConvSpec(8, kernel=4)
    with pytest.raises(ValueError, match="BackRes"):
        STDPNet([ConvSpec(4, 3, repeat=2)], (1, 8, 8))
    with pytest.raises(ValueError, match="rule"):
        STDPConfig(rule="hebb")
    with pytest.raises(ValueError, match="out of reach"):  # 4 maps under inhibition: r* < 1/4
        STDPNet([ConvSpec(4, 3)], (1, 8, 8), STDPConfig(target_rate=0.25))
    with pytest.raises(ValueError, match="inhibition"):
        STDPConfig(inhibition="sometimes")
    with pytest.raises(ValueError, match="winners"):
        STDPConfig(winners=-1)
    with pytest.raises(ValueError, match="nu_decay"):
        STDPConfig(nu_decay=0.0)
    with pytest.raises(ValueError, match="coding"):
        STDPConfig(coding="phase")


def test_kernel_similarity():
    eye = torch.eye(4).view(4, 1, 2, 2)
    assert kernel_similarity(eye) == 0.0
    same = torch.randn(1, 1, 3, 3).repeat(3, 1, 1, 1) * torch.tensor([1.0, -2, 3]).view(3, 1, 1, 1)
    assert kernel_similarity(same) == pytest.approx(1.0)
    pair = torch.tensor([[1.0, 0], [1, 1]]).view(2, 1, 1, 2)  # cos 45° = 1/√2
    assert kernel_similarity(pair) == pytest.approx(2**-0.5)


def test_kernel_change_is_the_mean_relative_distance():
    before = torch.tensor([[3.0, 4.0], [1.0, 0.0]]).view(2, 1, 1, 2)
    after = torch.tensor([[3.0, 4.0], [0.0, 1.0]]).view(2, 1, 1, 2)  # 0/5 and √2/1
    assert kernel_change(before, after) == pytest.approx(2**0.5 / 2)
    assert kernel_change(before, before) == 0.0


def test_convergence_is_recorded_per_layer_and_batch(images):
    """One change and one similarity per batch and learning layer, equal to the kernels the
    training leaves (the last similarity) and to a rerun from the same seed; nothing for the
    control, whose kernels never move."""
    convergence: dict = {}
    net = small_net()
    train_layerwise(
        net, images.train, images.mean, images.std, 8, progress=False, convergence=convergence
    )
    assert set(convergence) == {"conv1", "conv2"}
    for layer in net.layers:
        c = convergence[layer.name]
        assert len(c["change"]) == len(c["similarity"]) == 4  # 32 images / 8
        assert all(x > 0 for x in c["change"])
        assert c["similarity"][-1] == pytest.approx(kernel_similarity(layer.weight))
    again: dict = {}
    train_layerwise(
        small_net(), images.train, images.mean, images.std, 8, progress=False, convergence=again
    )
    assert again == convergence
    control: dict = {}
    train_layerwise(
        small_net(), images.train, images.mean, images.std, 8, learn_weights=False,
        progress=False, convergence=control,
    )  # fmt: skip
    assert control == {}


def test_the_ann_control_shares_a_backres_convolution_and_computes_the_same_topology():
    specs = [ConvSpec(4, 3), ConvSpec(4, 3, repeat=2)]
    torch.manual_seed(0)
    ann = SameTopologyANN(specs, (1, 8, 8), "fc", 3)
    conv1, conv2 = ann.convs
    assert len(ann.convs) == 2  # the BackRes layer has one convolution, applied twice
    x = torch.rand(5, 1, 8, 8)
    relu = torch.nn.functional.relu
    h = torch.nn.functional.max_pool2d(relu(conv1(x)), 2)
    h = torch.nn.functional.max_pool2d(relu(conv2(relu(conv2(h)))), 2)
    torch.testing.assert_close(ann(x), ann.head(h))
    assert ann.head[1].in_features == 4 * 2 * 2


def test_winners_are_the_k_maps_that_fired_most_per_image():
    post = torch.zeros(2, 2, 4, 1, 2)  # [τ, B, C, H, W]
    post[:, 0, 1] = 1  # image 0: map 1 fires 4 times, map 3 twice, map 0 once
    post[0, 0, 3] = 1
    post[1, 0, 0, 0, 0] = 1
    post[0, 1, 2, 0, 0] = 1  # image 1: only map 2 fires
    assert winners(post, 2).tolist() == [[0, 1, 0, 1], [0, 0, 1, 0]]  # silent maps never win
    assert winners(post, 9).tolist() == [[1, 1, 0, 1], [0, 0, 1, 0]]


@pytest.mark.parametrize("k", [1, 2])
def test_with_k_winners_at_most_k_kernels_learn_from_one_image(k):
    """One image, one window: only the k winning maps' kernels move (the others are only
    renormalised, a rounding apart)."""
    cfg = STDPConfig(timesteps=8, updates=1, target_rate=0.05, dropout=0.0, winners=k)
    net = STDPNet([ConvSpec(6, 3, pool=1)], (1, 8, 8), cfg, seed=0)
    free = STDPNet([ConvSpec(6, 3, pool=1)], (1, 8, 8), replace(cfg, winners=0), seed=0)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    moved = []
    for n in (net, free):
        w0 = n.layers[0].weight.clone()
        n.present(x, torch.Generator().manual_seed(0), train=0)
        moved.append(int(((n.layers[0].weight - w0).flatten(1).norm(dim=1) > 1e-4).sum()))
    assert 1 <= moved[0] <= k < moved[1]


def test_latency_coding_fires_each_pixel_once_brighter_first():
    cfg = STDPConfig(coding="latency")
    net = STDPNet([ConvSpec(2, 3, pool=1)], (1, 1, 4), cfg)
    x = torch.tensor([1.0, 0.5, 0.0, 0.05]).view(1, 1, 1, 4)
    s = net.encode(x, 4, torch.Generator())
    assert s.shape == (4, 1, 1, 1, 4)
    when = [[int(t) for t in s[:, 0, 0, 0, i].nonzero().flatten()] for i in range(4)]
    assert when == [[0], [2], [], [3]]  # ⌊(1 − p)·4⌋; black never fires


def test_the_linear_readout_is_one_linear_layer():
    clf = build_classifier("linear", (4, 2, 2), 3)
    assert [type(m).__name__ for m in clf] == ["Flatten", "Linear"]
    assert clf[1].in_features == 16 and clf[1].out_features == 3


def test_decorrelate_is_a_gradient_step_on_the_summed_squared_cosines():
    from neurosnn.learn.competition import decorrelate

    torch.manual_seed(0)
    w = normalise_kernels(torch.randn(5, 2, 3, 3) + torch.randn(1, 2, 3, 3), 2.0)
    u = (w.flatten(1) / w.flatten(1).norm(dim=1, keepdim=True)).requires_grad_()
    cos = u @ u.T
    (0.25 * (cos**2).sum() - 0.25 * (cos.diagonal() ** 2).sum()).backward()
    expected = (u - 0.1 * u.grad).detach() * 2.0  # each kernel back at its norm, 2
    out = decorrelate(w, 0.1)
    torch.testing.assert_close(out.flatten(1), expected)
    assert kernel_similarity(out) < kernel_similarity(w)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), torch.zeros(5), atol=1e-6, rtol=0)
    eye = torch.eye(4).view(4, 1, 2, 2) * 3.0  # orthogonal kernels do not move
    assert torch.equal(decorrelate(eye, 0.5), eye)
    assert torch.equal(decorrelate(w, 0.0), w)


def test_with_decorrelation_the_update_is_pushed_apart_before_the_normalisation():
    from neurosnn.learn.competition import decorrelate

    torch.manual_seed(0)
    cfg = STDPConfig(nu=(0.1, 0.2), backend="torch", decorrelation=0.3)
    gen = torch.Generator().manual_seed(0)
    layer = STDPLayer("conv1", (2, 5, 5), ConvSpec(4, kernel=3, pool=1), cfg, gen)
    plain = STDPLayer(
        "conv1", (2, 5, 5), ConvSpec(4, kernel=3, pool=1), replace(cfg, decorrelation=0.0),
        torch.Generator().manual_seed(0),
    )  # fmt: skip
    pre = (torch.rand(3, 2, 2, 5, 5) < 0.4).float()
    post = (torch.rand(3, 2, 4, 5, 5) < 0.2).float()
    spikes = (pre, pre * 0.7, post, post * 0.6)
    w0 = layer.weight.clone()
    plain._torch_update(*[s.flatten(0, 1) for s in spikes])  # the rule alone, not renormalised
    layer.learn(*spikes)
    expected = normalise_kernels(decorrelate(plain.weight, 0.3), 1.0)
    torch.testing.assert_close(layer.weight, expected)
    assert not torch.allclose(layer.weight, w0)
    with pytest.raises(ValueError, match="decorrelation"):
        STDPConfig(decorrelation=1.0)


def test_the_random_controls_cache_ignores_the_options_that_only_change_learning():
    from neurosnn.jobs.stdp import LEARNING_ONLY, STDPJobConfig, stage_options

    data = synthetic()
    base = STDPJobConfig(nets=("stdp2",))
    learns = replace(base, stdp=replace(base.stdp, decorrelation=0.1, rule="weight-dependent"))
    fires = replace(base, stdp=replace(base.stdp, target_rate=0.02))
    assert stage_options(base, data, "random") == stage_options(learns, data, "random")
    assert stage_options(base, data, "stdp") != stage_options(learns, data, "stdp")
    assert stage_options(base, data, "random") != stage_options(fires, data, "random")
    assert stage_options(base, data, "controls") == stage_options(learns, data, "controls")
    assert set(LEARNING_ONLY) < set(stage_options(base, data, "stdp")["stdp"])
