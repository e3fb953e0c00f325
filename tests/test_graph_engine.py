"""Graph SNNs in every engine, file and format: the fast engine equals BindsNET's
``Network.run`` spike for spike on residual networks and on every registered network, under
both delays, φ, the bias onset, channel-wise thresholds and max pooling; a residual SNN saves,
loads and goes through NIR unchanged."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurosnn.conversion import convert
from neurosnn.io.snnfile import load_snn, save_snn
from neurosnn.networks import create_network, list_networks
from neurosnn.simulation.run import simulate
from tests.test_graph_convert import SHAPE, Concat, TinyResNet, init


def same_run(snn, x, T, **kw):
    y = torch.zeros(len(x), dtype=torch.long)
    a = simulate(snn, [(x, y)], T, **kw)
    b = simulate(snn, [(x, y)], T, engine="reference", **kw)
    assert torch.equal(a.correct, b.correct) and torch.equal(a.predictions, b.predictions)
    for name in snn.if_names:
        assert torch.equal(a.spike_counts[name], b.spike_counts[name]), name
    return a


def resnet_snn(**options):
    torch.manual_seed(0)
    x = torch.rand(64, *SHAPE)
    snn = convert(init(TinyResNet()), [x], SHAPE, **options)
    return snn, x[:12]


@pytest.mark.parametrize("delay", ["layer", "none"])
@pytest.mark.parametrize("onset", ["always", "input"])
@pytest.mark.parametrize(
    "options",
    [{}, {"phi": [0.5, 0.25, 0.75, 0.5, 0.1]}, {"channelwise": True}],
    ids=["plain", "phi", "channelwise"],
)
def test_fast_engine_is_bindsnet_on_a_resnet(delay, onset, options):
    snn, x = resnet_snn(**options)
    snn.set_thresholds(
        [t * f for t, f in zip(snn.thresholds, (0.5, 0.8, 1.3, 0.7, 0.9), strict=True)]
    )
    run = same_run(snn, x, 24, delay=delay, bias_onset=onset)
    assert all(c.sum() > 0 for c in run.spike_counts.values())  # no silent layer compared
    for tau in (1, 5):  # any time block
        again = simulate(
            snn,
            [(x, torch.zeros(len(x), dtype=torch.long))],
            24,
            delay=delay,
            bias_onset=onset,
            time_block=tau,
        )
        assert all(torch.equal(again.spike_counts[n], run.spike_counts[n]) for n in snn.if_names)


@pytest.mark.parametrize("name", list_networks())
def test_fast_engine_is_bindsnet_on_every_registered_network(name):
    torch.manual_seed(0)
    options = {"width": 0.0625} if name.startswith(("vgg", "resnet")) else {}
    model = create_network(name, 4, 1, 16, **options).eval()
    x = torch.rand(32, 1, 16, 16)
    snn = convert(model, [x], (1, 16, 16), percentile=99.0, percentile_of="positive")
    for delay, onset in (("layer", "input"), ("none", "always")):
        same_run(snn, x[:4], 12, delay=delay, bias_onset=onset)


def test_the_bias_onset_waits_for_the_shortest_path():
    """With the layer delay each layer's input first arrives after the shortest path from
    the input (a shortcut's), and with bias_onset="input" nothing fires before it."""
    snn, x = resnet_snn()
    assert snn.shortest_paths == {
        "stem.0": 1,
        "block1.conv1": 2,
        "block1.conv2": 2,
        "block2.conv1": 3,
        "block2.conv2": 3,
        "fc": 4,
    }
    assert snn.depth == 6  # the longest path: stem, 2 × 2 convolutions, fc
    spikes = {}

    def sink(layer, first, packed, shape):
        spikes[layer] = packed.sum((1, 2))  # [T]: bytes with a spike at each step

    run = simulate(
        snn,
        [(x, torch.zeros(len(x), dtype=torch.long))],
        10,
        bias_onset="input",
        record_spikes=len(x),
        spike_sink=sink,
    )
    for name, d in snn.shortest_paths.items():
        if name != "fc":
            assert spikes[name][:d].sum() == 0 and spikes[name].sum() > 0, name
    assert run.correct[:3].sum() == 0  # the output hears nothing before step 4


def test_a_residual_snn_saves_and_loads_spike_for_spike(tmp_path):
    snn, x = resnet_snn(phi=0.5, channelwise=True)
    path = save_snn(tmp_path / "res.snn.h5", snn, {"dataset": "synthetic"})
    loaded, meta = load_snn(path)
    assert loaded.layer_names == snn.layer_names and loaded.sources("block2.conv2") == [
        "block2.conv1",
        "block1.conv2",
    ]
    assert loaded.thresholds == snn.thresholds and meta["source"] == {"dataset": "synthetic"}
    for delay in ("layer", "none"):
        a = simulate(loaded, [(x, torch.zeros(len(x), dtype=torch.long))], 20, delay=delay)
        b = simulate(snn, [(x, torch.zeros(len(x), dtype=torch.long))], 20, delay=delay)
        assert all(torch.equal(a.spike_counts[n], b.spike_counts[n]) for n in snn.if_names)


def test_a_residual_snn_goes_through_nir_and_nirtorch(tmp_path):
    pytest.importorskip("nirtorch")
    from neurosnn.io.nirio import read_nir, write_nir
    from tests.test_nir import neurosnn_outputs, nirtorch_outputs

    snn, x = resnet_snn(phi=0.5)
    exact = write_nir(tmp_path / "exact.nir", snn, fold=False)
    back, _ = read_nir(exact)
    assert back.layer_names == snn.layer_names and back.sources("fc") == snn.sources("fc")
    for delay in ("layer", "none"):
        a = simulate(back, [(x, torch.zeros(len(x), dtype=torch.long))], 20, delay=delay)
        b = simulate(snn, [(x, torch.zeros(len(x), dtype=torch.long))], 20, delay=delay)
        assert all(torch.equal(a.spike_counts[n], b.spike_counts[n]) for n in snn.if_names)
    for fold in (False, True):
        path = write_nir(tmp_path / f"{fold}.nir", snn, fold=fold)
        ours = neurosnn_outputs(read_nir(path)[0], x, 20)
        torch.testing.assert_close(nirtorch_outputs(path, x, 20), ours, rtol=1e-5, atol=1e-5)


def test_latency_counts_a_graph_both_ways(tmp_path):
    """A residual network's steps without the layer delay come from a run without it (no
    shift of the delayed run is exact when shortcuts arrive early), and the depth the job
    reports is the longest path."""
    from neurosnn.analysis import latency as latency_plots
    from neurosnn.io.data import synthetic
    from neurosnn.io.record import read_run
    from neurosnn.jobs.latency import LatencyConfig, measure_latency
    from neurosnn.simulation.curve import iso_accuracy_step

    data = synthetic(n_train=128, n_test=64, num_classes=5, in_channels=2, input_size=8, seed=0)
    torch.manual_seed(0)
    cfg = LatencyConfig(
        recipes=("all", "phi+onset"),
        timesteps=24,
        long_horizon=1,
        test_images=64,
        calib_images=128,
    )
    report = measure_latency(init(TinyResNet()), data, cfg, tmp_path, progress=False)
    assert report.depth == 6
    for result in report.results:
        plain = read_run(tmp_path / f"{result.recipe}.delay-none.h5")
        assert plain.simulation["delay"] == "none"
        expected = iso_accuracy_step(plain.accuracy, report.ann_accuracy - 0.01)
        assert result.metrics["steps_to_ann_minus_1pct_delay_none"] == expected
    assert latency_plots.main([str(tmp_path)]) == 0  # the saved SNNs beside are not runs
    assert (tmp_path / "plots" / "frontier.png").is_file()
    assert latency_plots.main([str(tmp_path), "--delay", "none", "--out", str(tmp_path / "n")]) == 0
    assert (tmp_path / "n" / "accuracy.png").is_file()


def test_two_connections_from_one_source_save_and_go_through_nir(tmp_path):
    pytest.importorskip("nir")
    from neurosnn.io.nirio import read_nir, write_nir
    from tests.test_graph_convert import SameSource

    torch.manual_seed(0)
    x = torch.rand(32, *SHAPE)
    snn = convert(SameSource().eval(), [x], SHAPE)
    loaded, _ = load_snn(save_snn(tmp_path / "s.snn.h5", snn))
    back, _ = read_nir(write_nir(tmp_path / "s.nir", snn, fold=False))
    assert loaded.sources("fc2") == back.sources("fc2") == ["fc1", "fc1"]
    ref = same_run(snn, x[:8], 16, delay="none")
    for other in (loaded, back):
        run = simulate(other, [(x[:8], torch.zeros(8, dtype=torch.long))], 16, delay="none")
        assert all(torch.equal(run.spike_counts[n], ref.spike_counts[n]) for n in snn.if_names)


def test_the_merge_sum_writes_only_into_a_blocks_own_current():
    from neurosnn.simulation.engine.fast import _sum

    a, b, c = (torch.rand(3, 2, 5, generator=torch.Generator().manual_seed(i)) for i in range(3))
    expected = (a + b) + c
    shared = frozenset({a.untyped_storage().data_ptr()})  # a: a spike buffer, say
    kept = a.clone()
    assert torch.equal(_sum([a, b, c], shared), expected) and torch.equal(a, kept)
    total = _sum([a, b, c], frozenset())  # a is the block's own: summed in place
    assert total is a and torch.equal(total, expected)
    constant = torch.rand(1, 2, 5)  # a constant current broadcast over the block
    assert torch.equal(_sum([constant, b], frozenset()), constant + b)


def _concat_snn():
    torch.manual_seed(0)
    x = torch.rand(64, *SHAPE)
    return convert(init(Concat()), [x], SHAPE), x[:6]


@pytest.mark.parametrize("build", [resnet_snn, _concat_snn], ids=["resnet", "concat"])
def test_layers_share_spike_buffers_only_once_read(build):
    from neurosnn.simulation.engine.fast import _spike_slots

    snn, _ = build()
    order = {n: i for i, n in enumerate(snn.layer_names)}
    readers = {
        n: [order[t] for t in snn.layer_names for s, _ in snn.incoming(t) if s == n]
        for n in snn.if_names
    }
    slots = _spike_slots(snn, keep=False)
    assert sorted(slots) == sorted(snn.if_names)
    for a in snn.if_names:  # a layer reuses a buffer only after its holder's last reader
        for b in snn.if_names:
            if order[a] < order[b] and slots[a] == slots[b]:
                assert max(readers[a]) < order[b], (a, b)
    assert len(set(slots.values())) < len(snn.if_names)  # a graph this deep shares
    assert _spike_slots(snn, keep=True) == {n: i for i, n in enumerate(snn.if_names)}


@pytest.mark.parametrize("build", [resnet_snn, _concat_snn], ids=["resnet", "concat"])
@pytest.mark.parametrize("presim", [0, 4])
def test_shared_spike_buffers_give_the_same_counts_and_output(build, presim):
    from neurosnn.simulation.engine.fast import run_blocks

    snn, x = build()
    theta, phi = snn.per_sample(len(x))
    runs = [
        list(
            (b.output.clone(), {n: c.clone() for n, c in b.counts.items()}, set(b.spikes))
            for b in run_blocks(
                snn, x, 20, theta, phi=phi, time_block=3, presim=presim, keep_spikes=keep
            )
        )
        for keep in (True, False)
    ]
    for (out_a, counts_a, spikes_a), (out_b, counts_b, spikes_b) in zip(*runs, strict=True):
        assert torch.equal(out_a, out_b)
        assert counts_a.keys() == counts_b.keys()
        assert all(torch.equal(counts_a[n], counts_b[n]) for n in counts_a)
        assert spikes_a == set(snn.if_names) and spikes_b == set()  # none to misread
    assert any(c.sum() > 0 for _, counts, _ in runs[0] for c in counts.values())


class FromInput(nn.Module):
    """A layer that sums a hidden layer's current and one straight from the input (a
    shortcut from the images)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.skip = nn.Conv2d(2, 4, 1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        h = F.relu(self.skip(x) + self.conv2(F.relu(self.conv1(x))))
        return self.fc(torch.flatten(h, 1))


def _from_input_snn():
    torch.manual_seed(0)
    x = torch.rand(64, *SHAPE)
    return convert(init(FromInput()), [x], SHAPE), x[:6]


def _vgg_snn():  # spike max pooling: connections that carry counts across blocks
    torch.manual_seed(0)
    model = create_network("vgg9", 4, 1, 16, width=0.0625).eval()
    x = torch.rand(32, 1, 16, 16)
    return convert(model, [x], (1, 16, 16), percentile=99.0), x[:4]


@pytest.mark.parametrize(
    "build",
    [resnet_snn, _concat_snn, _vgg_snn, _from_input_snn],
    ids=["resnet", "concat", "vgg", "from-input"],
)
@pytest.mark.parametrize("tau", [1, 3, 40])
def test_rows_before_a_layers_first_spike_are_not_convolved(build, tau, monkeypatch):
    from neurosnn.simulation.engine import fast

    snn, x = build()
    theta, phi = snn.per_sample(len(x))
    convolved = []  # images each convolution was given
    for name in snn.layer_names:
        for _, conn in snn.incoming(name):
            for m in conn.ops:
                if isinstance(m, nn.Conv2d | nn.Linear):
                    m.register_forward_hook(lambda m, i, o: convolved.append(len(i[0])))

    def run(delay, onset):
        convolved.clear()
        blocks = fast.run_blocks(
            snn, x, 40, theta, phi=phi, delay=delay, bias_onset=onset, time_block=tau
        )
        return [(b.output.clone(), {n: c.clone() for n, c in b.counts.items()}) for b in blocks]

    for delay, onset in (("layer", "input"), ("layer", "always"), ("none", "always")):
        skipping = run(delay, onset), sum(convolved)
        with monkeypatch.context() as m:
            m.setattr(fast.Simulation, "_silent_rows", lambda self, source, counts: 0)
            every_row = run(delay, onset), sum(convolved)
        for (out_a, counts_a), (out_b, counts_b) in zip(skipping[0], every_row[0], strict=True):
            assert torch.equal(out_a, out_b)
            assert all(torch.equal(counts_a[n], counts_b[n]) for n in counts_a)
        assert skipping[1] <= every_row[1]
        if onset == "input":  # a layer n connections deep is silent for n steps: skipped
            assert skipping[1] < every_row[1]
    fired = [c.sum() > 0 for _, counts in skipping[0] for c in counts.values()]
    assert any(fired)


@pytest.mark.parametrize("delay", ["layer", "none"])
def test_a_current_from_the_input_summed_first_is_not_overwritten(delay):
    # the input's current is computed once and kept; summing a hidden layer's current into
    # it in place (one step a block) changed every later step's input
    snn, x = _from_input_snn()
    assert snn.sources("conv2") == ["input", "conv1"]
    run = same_run(snn, x, 12, delay=delay, time_block=1)
    assert all(c.sum() > 0 for c in run.spike_counts.values())
