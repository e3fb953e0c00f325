"""VGG family used by the conversion papers, built from configuration lists.

Defaults follow the conversion constraints of Sengupta et al. (2019) used by Lu & Sengupta:
no bias, average pooling, no BatchNorm, dropout in the classifier. Each option can be changed;
``activation="qcfs"`` trains with Bu et al.'s quantisation-clip-floor-shift activation (L =
``levels``, initial λ ``qcfs_threshold``, 8 in the authors' code) in place of ReLU, for SNNs
that need few timesteps; ``activation="nq"`` adds the SNN's measured residual to it as noise
in training (``networks.blocks.NQ``).
Pooling layers are dropped once the feature map is 1×1, so every depth fits 28×28 inputs.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from neurosnn.networks.blocks import BackResBlock, Repeat, activation_layer, check_options
from neurosnn.networks.registry import register_network

# conv channels ("M" = 2×2 pool, Repeat = a BackRes block) and hidden fully connected widths
Cfg = list[int | str | Repeat]
CFGS: dict[str, tuple[Cfg, list[int]]] = {
    "vgg5": ([64, "M", 128, 128, "M"], [1024]),
    "vgg9": ([64, 64, "M", 128, 128, "M", 256, 256, 256, "M"], [1024]),
    "vgg11": ([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], [4096, 4096]),
    # 13 conv + 2 FC: the Lu & Sengupta baseline
    "vgg15": (
        [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
        [4096],
    ),
    "vgg16": (
        [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
        [4096, 4096],
    ),
}


class VGG(nn.Module):
    """VGG with a ``features`` and a ``classifier`` Sequential."""

    def __init__(
        self,
        cfg: Cfg,
        fc: list[int],
        num_classes: int,
        in_channels: int,
        input_size: int,
        *,
        width: float = 1.0,
        bias: bool = False,
        pool: Literal["avg", "max"] = "avg",
        dropout: float = 0.2,
        batch_norm: bool = False,
        activation: Literal["relu", "qcfs", "nq"] = "relu",
        levels: int = 8,
        qcfs_threshold: float = 8.0,
    ) -> None:
        super().__init__()
        check_options(width, pool, activation)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        act = activation_layer(activation, levels, qcfs_threshold)

        pool_layer = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        layers: list[nn.Module] = []
        channels, size = in_channels, input_size
        for item in cfg:
            if isinstance(item, Repeat):
                if activation != "relu":
                    raise NotImplementedError(
                        f"BackRes blocks use ReLU; activation={activation!r} is not"
                    )
                layers.append(BackResBlock(channels, item.depth, item.n, bias, batch_norm))
                continue
            if item == "M":
                if size >= 2:
                    layers.append(pool_layer(2))
                    size //= 2
                continue
            out = max(1, round(int(item) * width))
            layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=bias or batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(act())
            channels = out
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        features = channels * size * size
        for hidden in fc:
            hidden = max(1, round(hidden * width))
            head += [nn.Linear(features, hidden, bias=bias), act()]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            features = hidden
        head.append(nn.Linear(features, num_classes, bias=bias))
        self.classifier = nn.Sequential(*head)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x):  # [B, C, H, W] -> [B, num_classes]
        return self.classifier(self.features(x))


def _factory(name: str):
    cfg, fc = CFGS[name]

    @register_network(name)
    def build(num_classes: int, in_channels: int, input_size: int, **options) -> VGG:
        return VGG(cfg, fc, num_classes, in_channels, input_size, **options)

    build.__doc__ = f"{name}: conv cfg {cfg}, hidden FC {fc}."
    return build


for _name in CFGS:
    _factory(_name)
