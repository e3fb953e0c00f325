import numpy as np
import pytest
import torch
from torch import nn

from neurosnn.conversion import ConversionError, ann_graph, convert
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg


def calib_batches(data):
    return [x for x, _ in data.train.batches(64)]


def ann_acts(model, x, shape=(1, 8, 8)):
    """Each layer's activation in the folded ANN graph (the output's value last)."""
    return {name: act.detach() for name, _, act in ann_graph(model, shape).ann_forward(x)}


def test_batchnorm_folding_keeps_outputs(model, data):
    x, _ = next(data.test.batches(40))
    graph = ann_graph(model, (1, 8, 8))
    *_, (_, out, _) = graph.ann_forward(x)
    torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for e in graph.edges for m in e.ops)
    assert graph.is_chain


def test_layer_names_follow_module_paths(model, data):
    snn = convert(model, calib_batches(data), (1, 8, 8))
    assert snn.layer_names == [
        "features.0",
        "features.4",
        "features.7",
        "classifier.1",
        "classifier.4",
    ]
    assert snn.output_name == "classifier.4" and len(snn.thresholds) == 4


def test_conversion_leaves_the_ann_alone(model, data):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    convert(model, calib_batches(data), (1, 8, 8))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class WithGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(72, 2))

    def forward(self, x):
        return self.head(self.features(x))


def test_unsupported_modules_are_named_in_one_line():
    with pytest.raises(ConversionError, match=r"^features\.1 \(GELU\): GELU is not supported") as e:
        convert(WithGelu(), [torch.rand(4, 1, 8, 8)], (1, 8, 8))
    assert "\n" not in str(e.value) and isinstance(e.value, NotImplementedError)


def test_maxpool_before_the_relu_is_the_same_network():
    torch.manual_seed(0)
    before = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(18, 2)
    )
    after = nn.Sequential(*[before[i] for i in (0, 2, 1, 3, 4)])
    x = torch.rand(16, 1, 8, 8)
    a, b = convert(before, [x], (1, 8, 8)), convert(after, [x], (1, 8, 8))
    assert a.layer_names == b.layer_names == ["0", "4"]
    assert a.thresholds == b.thresholds
    assert str(a.connection("4").ops) == str(b.connection("4").ops)  # spike max pool first


def test_wrong_input_shape(model, data):
    with pytest.raises(ValueError, match="input_shape"):
        convert(model, calib_batches(data), (3, 8, 8))


def test_histogram_percentiles_match_quantiles(model, data):
    snn = convert(model, calib_batches(data), (1, 8, 8))
    x = torch.cat(calib_batches(data))
    a = ann_acts(model, x)["features.0"]
    pos = a[a > 0]
    hist = snn.calibration["features.0"]
    width = hist.max / len(hist.counts)
    assert hist.max == pytest.approx(float(pos.max()))
    ordered = pos.sort().values
    for p in (50.0, 90.0, 99.7):
        # the p-th percentile lies between the order statistics around rank p·n
        k = int(np.ceil(p / 100 * len(ordered)))
        low, high = float(ordered[max(k - 2, 0)]), float(ordered[min(k, len(ordered) - 1)])
        assert low - width <= hist.percentile(p) <= high + width
    assert hist.percentile(100) == pytest.approx(hist.max)


def test_thresholds_change_without_rebuilding(model, data):
    snn = convert(model, calib_batches(data), (1, 8, 8), percentile=99.7)
    network, conn = snn.network, snn.connection("features.4")
    base = snn.thresholds
    snn.set_percentiles([90.0, 95.0, 99.0, 99.9])
    assert snn.network is network and snn.connection("features.4") is conn
    assert snn.percentiles == [90.0, 95.0, 99.0, 99.9]
    assert snn.thresholds[0] < base[0]
    snn.set_thresholds([1.0, 2.0, 0.5, 0.25])
    assert snn.thresholds == [1.0, 2.0, 0.5, 0.25] and snn.percentiles is None


@pytest.mark.parametrize(
    "bad", [[1.0, -1.0, 1.0, 1.0], [1.0, float("nan"), 1.0, 1.0], [1.0, 0.0, 1.0, 1.0]]
)
def test_bad_thresholds_raise(model, data, bad):
    snn = convert(model, calib_batches(data), (1, 8, 8))
    with pytest.raises(ValueError, match="threshold of layer features.4"):
        snn.set_thresholds(bad)


def test_bad_percentiles_raise(model, data):
    snn = convert(model, calib_batches(data), (1, 8, 8))
    for bad in (0.0, 100.5, -3.0, float("nan")):
        with pytest.raises(ValueError, match=r"percentile .* must be in \(0, 100\]"):
            snn.set_percentiles(bad)
    with pytest.raises(ValueError, match="expected 4 percentiles"):
        snn.set_percentiles([99.0, 99.0])
    with pytest.raises(ValueError, match="expected 4 thresholds"):
        snn.set_thresholds([1.0])


def _clipped_ann(model, x, thresholds):
    """Eq. 6: every hidden activation clipped at its layer's threshold."""
    graph = ann_graph(model, tuple(x.shape[1:]))
    for node, theta in zip(graph.nodes, thresholds, strict=False):
        node.activation = nn.Hardtanh(0.0, theta)
    return [act.detach() for _, _, act in graph.ann_forward(x)]


def _rates(snn, x, T):
    counts = {}

    def sink(layer, first, packed, shape):
        bits = np.unpackbits(packed.numpy(), axis=-1, count=int(np.prod(shape)))
        counts[layer] = torch.from_numpy(bits.sum(0).astype(np.float64))  # [b, neurons]

    out = {}
    for name in snn.if_names:  # one layer at a time keeps the sink simple
        simulate(
            snn,
            [(x, torch.zeros(len(x), dtype=torch.long))],
            T,
            delay="none",
            record_spikes=len(x),
            record_layers=[name],
            spike_sink=sink,
        )
        out[name] = counts[name] / T
    return out


def test_rates_times_threshold_approach_clipped_ann(data):
    model = tiny_vgg(batch_norm=False, bias=False, seed=1)
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8), percentile=99.0)
    x, _ = next(data.test.batches(8))
    target = _clipped_ann(model, x, snn.thresholds)
    errors = {}
    for T in (16, 128, 1024):
        rates = _rates(snn, x, T)
        errors[T] = [
            float((rates[n] * th - target[i].detach().flatten(1).double()).abs().mean() / th)
            for i, (n, th) in enumerate(zip(snn.if_names, snn.thresholds, strict=True))
        ]
    for layer in range(len(snn.if_names)):
        assert errors[1024][layer] < errors[128][layer] < errors[16][layer]
        assert errors[1024][layer] < 0.02


def test_output_rate_approaches_ann_logits(data):
    model = tiny_vgg(batch_norm=False, bias=False, seed=1)
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8), percentile=100.0)
    x, _ = next(data.test.batches(8))
    logits = _clipped_ann(model, x, snn.thresholds)[-1].detach()
    errors = []
    for T in (16, 1024):
        snn.network.reset_state_variables()
        snn.network.run(
            inputs={"input": x.unsqueeze(0).repeat(T, 1, 1, 1, 1)}, time=T, one_step=True
        )
        v = snn.layer(snn.output_name).v  # accumulated output ≈ T × logits
        errors.append(float((v / T - logits).abs().max() / logits.abs().max()))
    assert errors[1] < errors[0] and errors[1] < 0.01
