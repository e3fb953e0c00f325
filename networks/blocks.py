"""Building blocks shared by the architectures."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def check_options(width: float, pool: str, activation: str = "relu") -> None:
    """Raise naming a bad ``width``, ``pool`` or ``activation``, the options the families
    share."""
    if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width < math.inf:
        raise ValueError(f"width must be a finite number > 0, got {width!r}")
    if pool not in ("avg", "max"):
        raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
    if activation not in ("relu", "qcfs", "nq"):
        raise ValueError(f"activation must be 'relu', 'qcfs' or 'nq', got {activation!r}")
    if activation == "nq" and pool == "max":
        raise ValueError(
            "activation='nq' needs pool='avg': its residual is measured by running the "
            "network's own modules on spikes, and max pooling of spikes is not what the "
            "converter builds"
        )


def activation_layer(activation: str, levels: int, qcfs_threshold: float):
    """A factory of the activation modules: ``nn.ReLU``, ``QCFS`` or ``NQ`` (L ``levels``,
    initial λ ``qcfs_threshold``)."""

    def act() -> nn.Module:
        if activation == "relu":
            return nn.ReLU()
        return (QCFS if activation == "qcfs" else NQ)(levels, qcfs_threshold)

    return act


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


class _FloorSTE(torch.autograd.Function):
    """``floor`` whose gradient is passed straight through (as in Bu et al.'s code)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


class QCFS(nn.Module):
    """Quantisation-clip-floor-shift activation (Bu et al., "Optimal ANN-SNN conversion for
    high-accuracy and ultra-low-latency spiking neural networks", ICLR 2022, Eq. 18):

        ĥ(z) = λ · clip(⌊z·L/λ + φ⌋ / L, 0, 1),   φ = 1/2,

    with one trainable λ per layer (initial 8, the authors' code) and L quantisation levels.
    An IF layer with threshold λ whose potential starts at λ/2 reproduces it in expectation
    at every T (their Theorem 2), and exactly at T = L for a constant input, so the converted
    SNN needs about L steps per layer to settle instead of dozens.
    """

    def __init__(self, levels: int = 8, threshold: float = 8.0) -> None:
        super().__init__()
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.levels = levels
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.threshold
        y = torch.clamp(x / lam, 0.0, 1.0)
        return _FloorSTE.apply(y * self.levels + 0.5) / self.levels * lam

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold):.4g}"


class NQ(QCFS):
    """QCFS with the SNN's residual error modelled as additive noise in training (noise
    quantisation; "Converting high-performance and low-latency SNNs through explicit modelling
    of residual error in ANNs", IEEE TNNLS, code hzp2022/ANN2SNN_NQ):

        ĥ_NQ(z) = ĥ(z) + σ_l · ε,   ε ~ N(0, 1) per element, in training only,

    ĥ the QCFS activation above and σ_l this layer's residual: the standard deviation of the
    difference between ĥ and the converted SNN's rate (spikes × λ / T) at T = ``levels``
    steps, measured after every epoch (``neurosnn.learn.nq.update_noise``, which ``train_ann``
    calls; 0 in the first epoch). At inference NQ is QCFS, and it converts as QCFS does. The paper's
    text is not among ../shared/papers; this follows the authors' released code (their
    ``MPLayer``: noise of the per-layer measured std, subtracted, which is the same
    distribution; T = L as in their README's example).
    """

    def __init__(self, levels: int = 8, threshold: float = 8.0) -> None:
        super().__init__(levels, threshold)
        self.register_buffer("noise_std", torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.training and float(self.noise_std) > 0:
            y = y + self.noise_std * torch.randn_like(y)
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, noise_std={float(self.noise_std):.4g}"
