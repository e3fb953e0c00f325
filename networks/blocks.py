"""Building blocks shared by the architectures."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Repeat:
    """Configuration item: a BackRes block of ``depth`` 3×3 convolutions that keep the current
    channel count, applied ``n`` times in order with the same weights."""

    depth: int
    n: int


class BackResBlock(nn.Module):
    """Backward residual block (Panda, Aketi & Roy 2020, Fig. 1): the output of its last
    convolution is fed back to its first, ``n`` times, with shared weights. Logical depth
    ``depth × n``, unique layers ``depth``. With BatchNorm each unrolling step has its own
    normalisation (the statistics differ per step), the convolution weights stay shared."""

    def __init__(
        self, channels: int, depth: int, n: int, bias: bool = False, batch_norm: bool = False
    ) -> None:
        super().__init__()
        if depth < 1 or n < 1:
            raise ValueError(f"a BackRes block needs depth >= 1 and n >= 1, got {depth}, {n}")
        self.n = n
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias or batch_norm)
            for _ in range(depth)
        )
        self.norms = (
            nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(depth * n))
            if batch_norm
            else None
        )

    def forward(self, x):  # [B, C, H, W] -> [B, C, H, W]
        k = 0
        for _ in range(self.n):
            for conv in self.convs:
                x = conv(x)
                if self.norms is not None:
                    x = self.norms[k](x)
                x = F.relu(x)
                k += 1
        return x
