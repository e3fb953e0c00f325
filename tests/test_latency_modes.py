"""The low-latency options: initial potential φ·θ, bias onset, percentiles over all outputs and
channel-wise thresholds — fast engine ≡ bindsnet in each, and their reference maths."""

import numpy as np
import pytest
import torch
from torch import nn

from neurosnn.conversion import convert
from neurosnn.simulation.run import simulate, simulate_groups
from neurosnn.snn.neurons import SubtractiveIFNodes
from tests.conftest import tiny_vgg
from tests.test_convert import ann_acts, calib_batches

PHI = (0.5, 0.25, 0.75, 0.5)


def converted(data, pool="avg", **options):
    snn = convert(tiny_vgg(pool=pool), calib_batches(data), (1, 8, 8), **options)
    snn.set_thresholds([t * f for t, f in zip(snn.thresholds, (0.5, 0.8, 1.3, 0.7), strict=True)])
    return snn


def assert_same_run(a, b, names):
    assert torch.equal(a.correct, b.correct)
    assert torch.equal(a.predictions, b.predictions)
    for name in names:
        assert torch.equal(a.spike_counts[name], b.spike_counts[name])


def test_nodes_start_at_phi_theta_and_fire_floor_t_c_plus_phi():
    nodes = SubtractiveIFNodes(shape=[4], thresh=1.0, phi=0.5)
    nodes.set_batch_size(1)
    assert torch.equal(nodes.v, torch.full((1, 4), 0.5))
    c = torch.tensor([[0.375, 0.125, 1.0, 0.0]])  # binary fractions: no float ties
    total = torch.zeros(1, 4)
    for t in range(1, 41):
        nodes.forward(c)
        total += nodes.s
        assert torch.equal(total, torch.floor(t * c + 0.5))
    nodes.reset_state_variables()
    assert torch.equal(nodes.v, torch.full((1, 4), 0.5))


@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize("delay", ["layer", "none"])
@pytest.mark.parametrize("onset", ["always", "input"])
def test_fast_engine_matches_bindsnet_with_phi_and_onset(data, pool, delay, onset):
    snn = converted(data, pool)
    snn.set_phi(PHI)
    kw = dict(delay=delay, bias_onset=onset)
    ref = simulate(snn, data.test.batches(16), 24, engine="reference", **kw)
    for time_block in (1, 5, None):
        fast = simulate(snn, data.test.batches(16), 24, time_block=time_block, **kw)
        assert_same_run(fast, ref, snn.if_names)
    assert ref.spike_counts[snn.if_names[-1]].sum() > 0


@pytest.mark.parametrize("options", [{"channelwise": True}, {"percentile_of": "positive"}])
def test_fast_engine_matches_bindsnet_in_the_conversion_modes(data, options):
    snn = converted(data, "max", **options)
    snn.set_phi(0.5)
    ref = simulate(snn, data.test.batches(16), 20, engine="reference", bias_onset="input")
    fast = simulate(snn, data.test.batches(16), 20, time_block=6, bias_onset="input")
    assert_same_run(fast, ref, snn.if_names)


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_gated_layer_delay_is_the_undelayed_run_shifted_by_depth(data, pool):
    # bias withheld until the input arrives: layer n (0-based) runs n + 1 steps behind
    snn = converted(data, pool)
    snn.set_phi(PHI)
    T, depth = 30, len(snn.layer_names)
    none = simulate(snn, data.test.batches(40), T, delay="none")
    gated = simulate(snn, data.test.batches(40), T, delay="layer", bias_onset="input")
    for i, name in enumerate(snn.if_names):
        assert gated.spike_counts[name][: i + 1].sum() == 0
        assert torch.equal(gated.spike_counts[name][i + 1 :], none.spike_counts[name][: T - i - 1])
    assert gated.correct[:depth].sum() == 0
    assert torch.equal(gated.correct[depth:], none.correct[: T - depth])
    # without the gate the biases act early, and the runs are not a shift of each other
    early = simulate(snn, data.test.batches(40), T, delay="layer")
    assert not torch.equal(early.correct[depth:], none.correct[: T - depth])


@pytest.mark.parametrize("onset", ["always", "input"])
def test_grouped_phi_equals_separate_runs(data, onset):
    snn = converted(data)
    base = torch.tensor(snn.thresholds)
    thresholds = torch.stack([base, base * 0.7, base])
    phi = torch.tensor([[0.0] * 4, [0.5] * 4, list(PHI)])
    x, y = next(data.test.batches(40))
    g = torch.arange(40) % 3
    batches = [(x[i : i + 16], y[i : i + 16], g[i : i + 16]) for i in (0, 16, 32)]
    grouped = simulate_groups(snn, batches, thresholds, 20, phi=phi, bias_onset=onset)
    for k in range(3):
        snn.set_thresholds(thresholds[k].tolist())
        snn.set_phi(phi[k].tolist())
        alone = simulate(snn, [(x[g == k], y[g == k])], 20, bias_onset=onset)
        assert torch.equal(grouped.correct[k], alone.correct)
        for name in snn.if_names:
            assert torch.equal(grouped.spike_counts[name][k], alone.spike_counts[name])
    first = snn.if_names[0]
    assert not torch.equal(grouped.spike_counts[first][0], grouped.spike_counts[first][2])


def assert_within_a_bin(value, outputs, p, width):
    """``value`` is the p-th percentile of ``outputs`` up to one bin: between the order
    statistics around rank p·n (numpy's linear percentile interpolates between them)."""
    ordered = np.sort(outputs)
    k = int(np.ceil(p / 100 * len(ordered)))
    low, high = ordered[max(k - 2, 0)], ordered[min(k, len(ordered) - 1)]
    assert low - width <= value <= high + width
    assert low <= np.percentile(outputs, p) <= high


def test_percentile_of_all_is_numpys_percentile_over_every_output(model, data):
    snn = convert(model, calib_batches(data), (1, 8, 8), percentile_of="all")
    x = torch.cat(calib_batches(data))
    acts = ann_acts(model, x)
    for name in snn.if_names:
        outputs = acts[name].flatten().numpy()
        hist = snn.calibration[name]
        width = hist.max / len(hist.counts)
        assert hist.zeros == int((outputs == 0).sum()) > 0
        for p in (60.0, 90.0, 99.7):
            # numpy's percentile of all outputs, zeros included, to within a bin
            assert_within_a_bin(hist.percentile(p, "all"), outputs, p, width)
        positive = outputs[outputs > 0]
        assert_within_a_bin(hist.percentile(99.7, "positive"), positive, 99.7, width)
    # zeros count: the paper's 99.7 over all outputs is a lower threshold than over positives
    other = convert(model, calib_batches(data), (1, 8, 8), percentile_of="positive")
    assert all(a < b for a, b in zip(snn.thresholds, other.thresholds, strict=True))
    assert snn.percentile_of == "all" and other.percentile_of == "positive"


def test_channelwise_thresholds_are_each_channels_percentile(model, data):
    snn = convert(model, calib_batches(data), (1, 8, 8), channelwise=True)
    assert sorted(snn.channel_scales) == ["features.0", "features.4", "features.7"]
    x = torch.cat(calib_batches(data))
    a = ann_acts(model, x)["features.0"]  # [B, C, H, W] features.0 in the ANN
    scales = snn.channel_scales["features.0"]
    for c in range(a.shape[1]):
        channel = a[:, c].flatten().numpy()
        if np.percentile(channel, 99.7) > 0:
            assert_within_a_bin(float(scales[c]), channel, 99.7, float(channel.max()) / 2048)
    assert len(set(scales.tolist())) == len(scales)  # the channels really differ
    # every channel normalised to its own percentile: the layer threshold is (about) 1
    for name in snn.channel_scales:
        assert snn.thresholds[snn.if_names.index(name)] == pytest.approx(1.0, abs=2e-3)
    # the network is the same function: its ANN-rate limit is unchanged
    plain = convert(model, calib_batches(data), (1, 8, 8))
    assert snn.thresholds[-1] == pytest.approx(plain.thresholds[-1], rel=1e-4)


def test_bad_values_name_the_argument(model, data):
    snn = convert(model, calib_batches(data), (1, 8, 8))
    with pytest.raises(ValueError, match="phi of layer features.4 must be in"):
        snn.set_phi([0.5, 1.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="phi of layer features.0 must be in"):
        convert(model, calib_batches(data), (1, 8, 8), phi=-0.1)
    with pytest.raises(ValueError, match="percentile_of must be one of"):
        convert(model, calib_batches(data), (1, 8, 8), percentile_of="nonzero")
    with pytest.raises(ValueError, match="channelwise: layer classifier.1 has no channels"):
        convert(model, calib_batches(data), (1, 8, 8), channelwise=["classifier.1"])
    with pytest.raises(ValueError, match="channelwise: 'features.9' is not an IF layer"):
        convert(model, calib_batches(data), (1, 8, 8), channelwise=["features.9"])
    with pytest.raises(ValueError, match="bias_onset must be one of"):
        simulate(snn, data.test.batches(8), 4, bias_onset="late")
    x, y = next(data.test.batches(4))
    g = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="phi must be in"):
        simulate_groups(snn, [(x, y, g)], torch.ones(1, 4), 5, phi=torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"phi must be \[groups, IF layers\]"):
        simulate_groups(snn, [(x, y, g)], torch.ones(1, 4), 5, phi=torch.zeros(2, 4))


def test_percentile_over_all_outputs_refuses_a_zero_threshold():
    # a layer that is zero in 99.9% of its outputs has no positive 99.7 percentile over all
    conv = nn.Sequential(nn.Conv2d(1, 1, 1, bias=True), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        conv[0].weight.fill_(1.0)
        conv[0].bias.fill_(-2.99)
    x = torch.zeros(1000, 1, 2, 2)
    x[0, 0, 0, 0] = 3.0  # one active output among 4,000
    with pytest.raises(ValueError, match=r"layer 0: the 99.7 percentile of all its outputs is 0"):
        convert(conv, [x], (1, 2, 2))
    snn = convert(conv, [x], (1, 2, 2), percentile_of="positive")
    assert snn.thresholds[0] > 0


def test_if_neuron_from_half_threshold_is_qcfs_after_l_steps():
    # Bu et al., Theorem 2: threshold λ, potential starting at λ/2, constant input z: after
    # L steps the rate times λ is the QCFS activation with L levels, exactly
    from neurosnn.networks.blocks import QCFS

    lam, levels = 2.0, 8
    z = torch.arange(-8, 40).float() / 16  # binary fractions from -0.5 to 2.4375: no float ties
    nodes = SubtractiveIFNodes(shape=[len(z)], thresh=lam, phi=0.5)
    nodes.set_batch_size(1)
    count = torch.zeros(len(z))
    for _ in range(levels):
        nodes.forward(z.unsqueeze(0))
        count += nodes.s[0]
    assert torch.equal(count * lam / levels, QCFS(levels, lam)(z).detach())


def with_qcfs(model, levels=4):
    """``model`` with each ReLU replaced by a QCFS of its own λ (1, 1.25, 1.5 …)."""
    from neurosnn.networks.blocks import QCFS

    k = 0
    for parent in list(model.modules()):
        for key, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                setattr(parent, key, QCFS(levels, threshold=1.0 + 0.25 * k))
                k += 1
    return model.eval()


def test_trained_thresholds_are_qcfs_lambdas_and_spike_like_bindsnet(data):
    model = with_qcfs(tiny_vgg())
    snn = convert(model, calib_batches(data), (1, 8, 8), thresholds="trained", phi=0.5)
    assert snn.thresholds == [1.0, 1.25, 1.5, 1.75] and snn.percentiles is None
    ref = simulate(snn, data.test.batches(16), 16, engine="reference", bias_onset="input")
    fast = simulate(snn, data.test.batches(16), 16, time_block=5, bias_onset="input")
    assert_same_run(fast, ref, snn.if_names)
    # the histograms are of the QCFS outputs: nothing above λ
    tops = [snn.calibration[n].max for n in snn.if_names]
    assert all(top <= t + 1e-6 for top, t in zip(tops, snn.thresholds, strict=True))
    with pytest.raises(ValueError, match="layer features.0 ends in ReLU"):
        convert(tiny_vgg(), calib_batches(data), (1, 8, 8), thresholds="trained")
    with pytest.raises(ValueError, match="channelwise: trained thresholds"):
        convert(model, calib_batches(data), (1, 8, 8), thresholds="trained", channelwise=True)
    with pytest.raises(ValueError, match="channelwise: layer features.0 ends in a QCFS"):
        convert(model, calib_batches(data), (1, 8, 8), channelwise=True)
