"""LeNet-5 (LeCun et al. 1998) as used by Allred et al. for the spike-sparsity experiments:
conv 6@5×5 (padding 2 on 28×28 inputs), 2×2 pool, conv 16@5×5, 2×2 pool, FC 120, FC 84,
output. Average pooling, no bias and no BatchNorm by default (the conversion constraints);
``width`` scales the channels and hidden widths."""

from __future__ import annotations

from typing import Literal

from torch import nn

from neurosnn.networks.blocks import check_options
from neurosnn.networks.registry import register_network


class LeNet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        input_size: int,
        *,
        width: float = 1.0,
        bias: bool = False,
        pool: Literal["avg", "max"] = "avg",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        check_options(width, pool)
        c1, c2 = max(1, round(6 * width)), max(1, round(16 * width))
        f1, f2 = max(1, round(120 * width)), max(1, round(84 * width))
        pool_layer = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        size = (input_size // 2 - 4) // 2  # conv (same) → pool → conv (valid) → pool
        if size < 1:
            raise ValueError(f"input_size {input_size} is too small for LeNet (needs >= 12)")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2, bias=bias),
            nn.ReLU(),
            pool_layer(2),
            nn.Conv2d(c1, c2, 5, bias=bias),
            nn.ReLU(),
            pool_layer(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * size * size, f1, bias=bias),
            nn.ReLU(),
            nn.Linear(f1, f2, bias=bias),
            nn.ReLU(),
            nn.Linear(f2, num_classes, bias=bias),
        )

    def forward(self, x):  # [B, C, H, W] -> [B, num_classes]
        return self.classifier(self.features(x))


@register_network("lenet")
def lenet(num_classes: int, in_channels: int, input_size: int, **options) -> LeNet:
    """lenet: LeNet-5 (6, 16 conv; 120, 84 FC)."""
    return LeNet(num_classes, in_channels, input_size, **options)
