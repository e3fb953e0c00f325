"""Clipped ReLUs (``ReLU6``, ``Hardtanh(0, a)``, ``F.relu6``, ``F.hardtanh``), as in every stock
MobileNet, convert to IF layers whose threshold is at most the clip: an IF neuron's rate cannot
pass its threshold, so at the clip it computes ``min(max(x, 0), a)`` exactly, and the SNN
approaches the ANN as T grows."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurosnn.conversion import convert
from neurosnn.conversion.trace import ConversionError
from neurosnn.io.snnfile import load_snn, save_snn
from neurosnn.simulation.run import simulate

SHAPE = (2, 8, 8)


class TinyMobile(nn.Module):
    """A MobileNetV2-style block: expansion, depthwise, projection, each clipped differently."""

    def __init__(self):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(2, 8, 1), nn.BatchNorm2d(8), nn.ReLU6())
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.clip = nn.Hardtanh(0.0, 2.0)
        self.project = nn.Conv2d(8, 6, 1)
        self.fc = nn.Linear(6 * 4 * 4, 4)

    def forward(self, x):
        x = self.clip(self.depthwise(self.expand(x)))
        x = F.relu6(self.project(x) * 50.0)  # large enough to reach the clip
        x = F.avg_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


def model():
    torch.manual_seed(0)
    m = TinyMobile()
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return m.eval()


def batches(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, *SHAPE, generator=g) * 3]


def test_thresholds_never_pass_the_clip_and_sit_on_it_when_trained():
    snn = convert(model(), batches(), SHAPE, percentile=100.0)
    assert snn.thresholds[0] <= 6.0 and snn.thresholds[1] <= 2.0 and snn.thresholds[2] <= 6.0
    assert snn.thresholds[2] == pytest.approx(6.0)  # saturated: the percentile is the clip
    trained = convert(model(), batches(), SHAPE, thresholds="trained")
    assert trained.thresholds == pytest.approx([6.0, 2.0, 6.0])


def test_the_snn_approaches_the_clipped_ann_at_large_t():
    ann = model()
    snn = convert(ann, batches(), SHAPE, thresholds="trained")
    x = batches(40, seed=1)[0]
    with torch.no_grad():
        labels = ann(x).argmax(1)
    short = simulate(snn, [(x, labels)], 20, delay="none").accuracy[-1].item()
    long = simulate(snn, [(x, labels)], 1000, delay="none").accuracy[-1].item()
    assert long >= 0.95 and long >= short


def test_a_clipped_relu_saves_and_loads(tmp_path):
    snn = convert(model(), batches(), SHAPE, thresholds="trained")
    path = save_snn(tmp_path / "m.snn.h5", snn)
    again = load_snn(path)[0]
    x = batches(8, seed=2)[0]
    y = torch.zeros(8, dtype=torch.long)
    a = simulate(snn, [(x, y)], 30, delay="none")
    b = simulate(again, [(x, y)], 30, delay="none")
    assert torch.equal(a.accuracy, b.accuracy) and torch.equal(a.predictions, b.predictions)
    assert [type(v).__name__ for v in again.activations.values()].count("Hardtanh") == 3


def test_a_hardtanh_with_a_negative_floor_is_refused_naming_it():
    class Tanhish(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3)
            self.act = nn.Hardtanh()
            self.fc = nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            return self.fc(torch.flatten(self.act(self.conv(x)), 1))

    with pytest.raises(ConversionError, match=r"act .*Hardtanh\(-1\.0, 1\.0\) is not a clipped"):
        convert(Tanhish().eval(), batches(), SHAPE)


class TinySqueeze(nn.Module):
    """SqueezeNet's and GoogLeNet's pooling: 3×3, stride 2, ceil_mode (partial border windows)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)  # 8 -> 4
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 2 * 2, 4)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))
        x = F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True)  # 4 -> 2
        return self.fc(torch.flatten(x, 1))


def test_ceil_mode_pooling_converts_runs_equal_in_both_engines_and_saves(tmp_path):
    torch.manual_seed(0)
    ann = TinySqueeze().eval()
    snn = convert(ann, batches(), SHAPE, percentile=99.9)
    x = batches(24, seed=3)[0]
    with torch.no_grad():
        labels = ann(x).argmax(1)
    fast = simulate(snn, [(x, labels)], 40)
    reference = simulate(snn, [(x, labels)], 40, engine="reference")
    assert torch.equal(fast.predictions, reference.predictions)
    assert torch.equal(fast.accuracy, reference.accuracy)
    again = load_snn(save_snn(tmp_path / "s.snn.h5", snn))[0]
    assert torch.equal(simulate(again, [(x, labels)], 40).accuracy, fast.accuracy)
    assert simulate(snn, [(x, labels)], 600, delay="none").accuracy[-1] >= 0.9
