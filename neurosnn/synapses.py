"""BindsNET connection that applies the ANN's linear operators between two spiking layers.

Everything between two ReLUs of the ANN (pooling, flatten, one convolution or linear layer) is
linear, so one connection carries it. A spike of layer n stands for that layer's threshold
``Vth_n`` (Eq. 6 of Lu & Sengupta: the SNN approximates the ANN with activations clipped at
``Vth_n``), so the weights applied to incoming spikes are scaled by the source's threshold.
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
    """Connection whose current is ``ops(s · Vth_source)``; ``ops`` is an ``nn.Sequential``
    holding exactly one Conv2d or Linear.

    The source threshold is folded into that layer's weight (``W·Vth``), cached until the
    threshold or the weight changes in place, so no per-step pass scales the input.
    """

    def __init__(self, source: Nodes, target: Nodes, ops: nn.Sequential) -> None:
        super().__init__(source, target)
        self.ops = ops
        weighted = [m for m in ops if isinstance(m, nn.Conv2d | nn.Linear)]
        if len(weighted) != 1:
            raise ValueError(f"ops must hold exactly one Conv2d or Linear, got {len(weighted)}")
        self.weighted = weighted[0]
        self._scaled: tuple[tuple, torch.Tensor] | None = None

    def _weight(self) -> torch.Tensor:
        w = self.weighted.weight
        scale = getattr(self.source, "thresh", None)
        if scale is None:
            return w
        key = (scale.data_ptr(), scale._version, w.data_ptr(), w._version)
        if self._scaled is None or self._scaled[0] != key:
            self._scaled = (key, w * scale)
        return self._scaled[1]

    def __getstate__(self) -> dict:
        # the cache key holds memory addresses and version counters, which mean nothing in
        # another process (and may even match there by chance): never ship the cache
        state = super().__getstate__().copy()
        state["_scaled"] = None
        return state

    def _apply(self, fn, recurse=True):
        self._scaled = None  # moved or cast tensors: rebuild the scaled weight
        return super()._apply(fn, recurse)

    def compute(self, s: torch.Tensor) -> torch.Tensor:
        x = s.to(torch.float32)
        for m in self.ops:
            if m is self.weighted:
                w, b = self._weight(), m.bias
                x = m._conv_forward(x, w, b) if isinstance(m, nn.Conv2d) else F.linear(x, w, b)
            else:
                x = m(x)
        return x

    def update(self, **kwargs) -> None:
        super().update(**kwargs)

    def reset_state_variables(self) -> None:
        for module in self.ops:
            if isinstance(module, SpikeMaxPool2d):
                module.reset()

    def normalize(self) -> None:
        """Weights are the ANN's own; nothing to normalise."""
