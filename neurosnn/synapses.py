"""BindsNET connection that applies the ANN's linear operators between two spiking layers.

Everything between two ReLUs of the ANN (pooling, flatten, one convolution or linear layer) is
linear, so one connection carries it. A spike of layer n stands for that layer's threshold
``Vth_n`` (Eq. 6 of Lu & Sengupta: the SNN approximates the ANN with activations clipped at
``Vth_n``), so incoming spikes are scaled by the source's threshold before the operators.
Max pooling is the exception: it gates each window by the input neuron that has spiked most so
far (Rueckauer et al. 2017), so it must act directly on the source's spikes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from bindsnet.network.nodes import Nodes
from bindsnet.network.topology import AbstractConnection
from torch import nn


class SpikeMaxPool2d(nn.Module):
    """Max pooling of spikes gated by accumulated spike counts (stateful across steps)."""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.counts: torch.Tensor | None = None

    def forward(self, s: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, H', W']
        self.counts = s if self.counts is None else self.counts + s
        _, idx = F.max_pool2d(
            self.counts, self.kernel_size, self.stride, self.padding, return_indices=True
        )
        return s.flatten(2).gather(2, idx.flatten(2)).view_as(idx).to(s.dtype)

    def reset(self) -> None:
        self.counts = None


class OpsConnection(AbstractConnection):
    """Connection whose current is ``ops(s · Vth_source)``; ``ops`` is an ``nn.Sequential``."""

    def __init__(self, source: Nodes, target: Nodes, ops: nn.Sequential) -> None:
        super().__init__(source, target)
        self.ops = ops

    def compute(self, s: torch.Tensor) -> torch.Tensor:
        x = s.to(torch.float32)
        scale = getattr(self.source, "thresh", None)
        if scale is not None:
            x = x * scale
        return self.ops(x)

    def update(self, **kwargs) -> None:
        super().update(**kwargs)

    def reset_state_variables(self) -> None:
        for module in self.ops:
            if isinstance(module, SpikeMaxPool2d):
                module.reset()

    def normalize(self) -> None:
        """Weights are the ANN's own; nothing to normalise."""
