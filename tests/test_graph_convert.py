"""The converter on graphs and the PyTorch idioms researchers write: each tiny model converts
and its SNN, run long, answers as its ANN does, or it is refused in one line naming the module
or source line."""

import functools
import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurosnn.conversion import ConversionError, ann_graph, convert
from neurosnn.simulation.run import simulate

SHAPE = (2, 8, 8)


def agreement(model, shape=SHAPE, timesteps=1024, images=256):
    """The SNN's accuracy at T against the ANN's own predictions, on the images where the
    ANN's top two classes are apart (a near tie is decided by rounding, not conversion),
    thresholds at the maximum activation (no clipping), no layer delay."""
    torch.manual_seed(1)
    x = torch.rand(images, *shape)
    snn = convert(model, [x.to(next(model.parameters()).dtype)], shape, percentile=100.0)
    with torch.no_grad():
        logits = model(x.to(next(model.parameters()).dtype)).float()
    top = logits.topk(2).values
    clear = (top[:, 0] - top[:, 1]) > 0.05 * logits.abs().max()
    assert clear.sum() >= images // 3, "too few images with a clear answer to test"
    run = simulate(snn, [(x[clear].float(), logits.argmax(1)[clear])], timesteps, delay="none")
    return snn, float(run.accuracy[-1])


def init(model, seed=0):
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(0.0, 0.2)
    return model.eval()


class Block(nn.Module):
    """A basic residual block: identity shortcut, or 1×1 conv + BN where the shape changes."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.block1 = Block(4, 4)  # identity shortcut
        self.block2 = Block(4, 8, stride=2)  # 1×1 conv + BN shortcut
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def test_a_resnet_with_both_shortcuts_converts_as_a_graph():
    torch.manual_seed(0)
    snn, accuracy = agreement(init(TinyResNet()))
    assert accuracy >= 0.99
    assert snn.layer_names == [
        "stem.0",
        "block1.conv1",
        "block1.conv2",
        "block2.conv1",
        "block2.conv2",
        "fc",
    ]
    assert snn.sources("block1.conv2") == ["block1.conv1", "stem.0"]  # main path, shortcut
    assert snn.sources("block2.conv2") == ["block2.conv1", "block1.conv2"]
    shortcut = snn.connection("block1.conv2", "stem.0")
    assert len(shortcut.ops) == 0  # the identity: the stem's θ-valued spikes as they are
    conv = snn.connection("block2.conv2", "block1.conv2").weighted  # the 1×1 conv, BN folded
    assert conv.kernel_size == (1, 1) and conv.bias is not None
    assert not snn.is_chain and snn.depth == 6 and snn.shortest_paths["block2.conv2"] == 3


class Functional(nn.Module):
    """F.relu, F.max_pool2d, F.avg_pool2d, F.dropout, x.view(x.size(0), -1)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
        x = F.dropout(x, 0.3, training=self.training)
        return self.fc(x.view(x.size(0), -1))


FLATTENS = ("flatten1", "torch.flatten", "reshape", "view")


class Flattens(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        self.fc = nn.Linear(48, 5)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        if self.how == "flatten1":
            x = x.flatten(1)
        elif self.how == "torch.flatten":
            x = torch.flatten(x, start_dim=1)
        elif self.how == "reshape":
            x = x.reshape(x.shape[0], -1)
        else:
            x = x.view(-1, 48)
        return self.fc(x)


class GlobalPool(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.adaptive = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        x = F.relu(self.conv(x))
        if self.how == "module":
            x = self.adaptive(x).flatten(1)
        elif self.how == "functional":
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        else:
            x = x.mean((2, 3))
        return self.fc(x)


class Normalised(nn.Module):
    """An input normalisation inside the model, then a padded convolution."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4, 0.6]).view(1, 2, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.3]).view(1, 2, 1, 1))
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(256, 5)

    def forward(self, x):
        x = (x - self.mean) / self.std
        return self.fc(F.relu(self.conv(x)).flatten(1))


class Concat(nn.Module):
    """Two branches concatenated along channels, then a convolution; and a ReLU right on a
    concatenation."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(2, 2, 1)
        self.merge = nn.Conv2d(5, 4, 3, padding=1)
        self.c = nn.Conv2d(4, 2, 1)
        self.fc = nn.Linear(6 * 64, 5)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], dim=1)
        y = F.relu(self.merge(y))
        z = F.relu(torch.cat((self.c(y), y), 1))
        return self.fc(z.flatten(1))


class SameSource(nn.Module):
    """Two paths from one layer into the next: ``relu(h + fc2(h))``."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(128, 16), nn.Linear(16, 16), nn.Linear(16, 5)

    def forward(self, x):
        h = F.relu(self.fc1(x.flatten(1)))
        return self.out(F.relu(h + self.fc2(h)))


class PreActivation(nn.Module):
    """A pre-activation residual stage: the sums are not followed by a ReLU."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn1, self.conv1 = nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, padding=1)
        self.bn2, self.conv2 = nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        x = self.conv0(x)
        x = x + self.conv1(F.relu(self.bn1(x)))
        x = x + self.conv2(F.relu(self.bn2(x)))
        return self.fc(F.relu(self.bn3(x)).mean((2, 3)))


def conv_bn_maxpool_relu():
    """Conv-BN-MaxPool-ReLU: the pooling moves after the ReLU."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64, 5),
    )


IDIOMS = {
    "functional": Functional,
    **{how: functools.partial(Flattens, how) for how in FLATTENS},
    **{
        f"pool-{how}": functools.partial(GlobalPool, how)
        for how in ("module", "functional", "mean")
    },
    "normalised": Normalised,
    "concat": Concat,
    "same-source": SameSource,
    "pre-activation": PreActivation,
    "conv-bn-maxpool-relu": conv_bn_maxpool_relu,
}


@pytest.mark.parametrize("idiom", list(IDIOMS))
def test_idiom_converts_and_answers_as_its_ann(idiom):
    torch.manual_seed(0)  # the weights do not depend on which tests ran before
    _, accuracy = agreement(init(IDIOMS[idiom]()))
    assert accuracy >= 0.99


def test_a_float64_model_converts_in_float32_and_says_so(caplog):
    torch.manual_seed(0)
    model = init(TinyResNet()).double()
    with caplog.at_level(logging.WARNING):
        snn, accuracy = agreement(model)
    assert accuracy >= 0.99
    assert [r.message for r in caplog.records].count(
        "the model holds float64 tensors; it is converted in float32"
    ) == 1
    assert all(p.dtype == torch.float32 for p in snn.network.parameters())
    assert next(model.parameters()).dtype == torch.float64  # the model is left alone


class Sigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(128, 5)

    def forward(self, x):
        return self.fc(torch.sigmoid(x.flatten(1)))


class Product(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(128, 5)

    def forward(self, x):
        h = x.flatten(1)
        return self.fc(h * h)


class Pool5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(2, 2, 3, padding=1), nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Linear(18, 5)

    def forward(self, x):
        return self.fc(self.pool(F.relu(self.conv(x))).flatten(1))


class Sliced(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(2, 2, 3, padding=1), nn.Linear(32, 5)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x))[:, :, ::2, ::2].flatten(1))


class PoolNoRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(2, 2, 3, padding=1), nn.Linear(32, 5)

    def forward(self, x):
        return self.fc(F.max_pool2d(self.conv(x), 2).flatten(1))


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(128, 5)

    def forward(self, x):
        y = self.fc(x.flatten(1))
        return y, y


class Rows(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(F.relu(x.reshape(x.shape[0], 16, 8))).sum(1)


@pytest.mark.parametrize(
    "model,message",
    [
        (
            nn.Sequential(nn.Conv2d(2, 2, 3), nn.GELU(), nn.Flatten(), nn.Linear(72, 5)),
            r"^1 \(GELU\): GELU is not supported; neurosnn converts",
        ),
        (
            Sigmoid(),
            r"^test_graph_convert\.py:\d+ `return self\.fc\(torch\.sigmoid\(x\.flatten"
            r"\(1\)\)\)`: sigmoid is not supported",
        ),
        (Product(), r"`return self\.fc\(h \* h\)`: a mul of two values that depend on the input"),
        (
            Pool5(),
            r"^pool \(AdaptiveAvgPool2d\): adaptive average pooling of 8×8 to 3×3 has no "
            r"exact kernel",
        ),
        (Sliced(), r"::2, ::2\]\.flatten\(1\)\)`: indexing a tensor"),
        (PoolNoRelu(), r"max pooling .* of a value that no ReLU follows; put max pooling"),
        (TwoOutputs(), r"the model returns tuple"),
        (Rows(), r"a reshape of \(2, 8, 8\) to \(16, 8\); only flattening"),
    ],
    ids=["gelu", "sigmoid", "product", "adaptive", "slice", "maxpool", "tuple", "reshape"],
)
def test_what_does_not_convert_is_named_in_one_line(model, message):
    with pytest.raises(ConversionError, match=message) as err:
        convert(model.eval(), [torch.rand(4, *SHAPE)], SHAPE)
    assert "\n" not in str(err.value)


def test_the_ann_graph_reproduces_the_model():
    model = init(TinyResNet())
    x = torch.rand(8, *SHAPE)
    *_, (name, out, _) = ann_graph(model, SHAPE).ann_forward(x)
    assert name == "fc"
    torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)


def test_two_paths_from_one_layer_are_two_connections():
    torch.manual_seed(0)
    snn = convert(SameSource().eval(), [torch.rand(32, *SHAPE)], SHAPE)
    assert snn.layer_names == ["fc1", "fc2", "out"]  # named after the path with weights
    assert snn.sources("fc2") == ["fc1", "fc1"]
    assert [len(c.ops) for _, c in snn.incoming("fc2")] == [0, 1]  # h, then fc2(h)
    assert list(snn.network.connections)[1:3] == [("fc1", "fc2"), ("fc1", "fc2", 1)]
    with pytest.raises(ValueError, match="layer fc2 has 2 connections from fc1"):
        snn.connection("fc2", "fc1")
