"""Residual networks for conversion: He et al.'s CIFAR ResNet-20 ("Deep residual learning for
image recognition", CVPR 2016, §4.2: a 3×3 stem, 3 stages of 3 basic blocks with 16/32/64
channels, global average pooling, one linear layer) and the CIFAR-style ResNet-18 (a 3×3 stem
instead of ImageNet's 7×7 and max pooling, 4 stages of 2 basic blocks, 64/128/256/512 channels).

A basic block computes ``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))``; the shortcut is
the identity where the shape is kept and a 1×1 convolution with BatchNorm where it changes
(He et al.'s option B; their CIFAR net used zero-padding, option A). The stage's first block
downsamples with stride 2. Options: ``width`` scales every channel count (as the VGGs);
``pool`` is the global pooling before the classifier (``"avg"``, default, or ``"max"``);
``stem_pool`` adds a 2×2 pooling of that kind after the stem (ImageNet ResNets pool there);
``activation="qcfs"`` trains with Bu et al.'s QCFS activation in place of every ReLU
(``"nq"``: QCFS with the SNN's measured residual added as noise in training);
``batch_norm=False`` drops the BatchNorms (the convolutions then have biases), ``bias=True``
gives every convolution a bias.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from neurosnn.networks.blocks import activation_layer, check_options
from neurosnn.networks.registry import register_network


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BatchNorm and a shortcut, summed before the last activation."""

    def __init__(self, in_channels: int, channels: int, stride: int, act, norm, bias: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=bias)
        self.bn1 = norm(channels)
        self.act1 = act()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=bias)
        self.bn2 = norm(channels)
        self.act2 = act()
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=bias), norm(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C', H', W']
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNet(nn.Module):
    """A stem, stages of basic blocks, global pooling and a linear classifier."""

    def __init__(
        self,
        blocks: list[int],
        channels: list[int],
        num_classes: int,
        in_channels: int,
        input_size: int,
        *,
        width: float = 1.0,
        pool: Literal["avg", "max"] = "avg",
        stem_pool: bool = False,
        activation: Literal["relu", "qcfs", "nq"] = "relu",
        levels: int = 8,
        qcfs_threshold: float = 8.0,
        batch_norm: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        check_options(width, pool, activation)
        act = activation_layer(activation, levels, qcfs_threshold)

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        bias = bias or not batch_norm
        widths = [max(1, round(c * width)) for c in channels]
        pool_layer = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        stem: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=bias),
            norm(widths[0]),
            act(),
        ]
        size = input_size
        if stem_pool and size >= 2:
            stem.append(pool_layer(2))
            size //= 2
        self.stem = nn.Sequential(*stem)
        stages, previous = [], widths[0]
        for i, (n, c) in enumerate(zip(blocks, widths, strict=True)):
            layers = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                layers.append(BasicBlock(previous, c, stride, act, norm, bias))
                previous = c
                size = (size - 1) // stride + 1
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        # global pooling with an exact kernel (the converter needs one)
        self.pool = nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.MaxPool2d(size)
        self.fc = nn.Linear(previous, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, num_classes]
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


@register_network("resnet20")
def resnet20(num_classes: int, in_channels: int, input_size: int, **options) -> ResNet:
    """resnet20: He et al.'s CIFAR ResNet, 3 stages × 3 basic blocks, 16/32/64 channels."""
    return ResNet([3, 3, 3], [16, 32, 64], num_classes, in_channels, input_size, **options)


@register_network("resnet18")
def resnet18(num_classes: int, in_channels: int, input_size: int, **options) -> ResNet:
    """resnet18: CIFAR-style ResNet-18, 4 stages × 2 basic blocks, 64/128/256/512 channels."""
    return ResNet(
        [2, 2, 2, 2], [64, 128, 256, 512], num_classes, in_channels, input_size, **options
    )
