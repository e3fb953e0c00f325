"""BindsNET connection that applies the ANN's linear operators between two spiking layers.

Everything between two ReLUs of the ANN (pooling, flatten, one convolution or linear layer) is
linear, so one connection carries it. A spike of layer n stands for that layer's threshold
``Vth_n`` (Eq. 6 of Lu & Sengupta: the SNN approximates the ANN with activations clipped at
``Vth_n``), so the connection applies the ANN's own weights to *threshold-valued* spikes
``s·Vth_n``. ``s·Vth`` is exact in floating point (s ∈ {0, 1}), so a sample's current depends
only on its own threshold: a batch mixing samples with different thresholds computes, bit for
bit, what separate runs compute.

Max pooling gates each window by the input neuron that has spiked most so far (Rueckauer et
al. 2017), counting spikes (not their values) so the gate is the same in every engine.
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

    def gate(self, s: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Pool ``s`` ``[N, C, H, W]`` by the argmax of ``counts`` (same shape) per window."""
        _, idx = F.max_pool2d(
            counts, self.kernel_size, self.stride, self.padding, return_indices=True
        )
        return s.flatten(2).gather(2, idx.flatten(2)).view_as(idx)

    def forward(self, s: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, H', W']
        fired = s.ne(0).to(s.dtype)
        self.counts = fired if self.counts is None else self.counts + fired
        return self.gate(s, self.counts)

    def reset(self) -> None:
        self.counts = None


class OpsConnection(AbstractConnection):
    """Connection whose current is ``ops(s · Vth_source)``; ``ops`` is an ``nn.Sequential``
    holding exactly one Conv2d or Linear, with the ANN's weights."""

    def __init__(self, source: Nodes, target: Nodes, ops: nn.Sequential) -> None:
        super().__init__(source, target)
        self.ops = ops
        # steps whose current is withheld (bias onset, see neurosnn.simulate); counted from reset
        self.onset = 0
        self._step = 0
        weighted = [m for m in ops if isinstance(m, nn.Conv2d | nn.Linear)]
        if len(weighted) != 1:
            raise ValueError(f"ops must hold exactly one Conv2d or Linear, got {len(weighted)}")
        self.weighted = weighted[0]

    def compute(self, s: torch.Tensor) -> torch.Tensor:
        """bindsnet's hook: the current from the source's (boolean) spikes."""
        x = s.to(torch.float32)
        scale = getattr(self.source, "thresh", None)
        current = self.ops(x if scale is None else x * scale)
        self._step += 1
        return current if self._step > self.onset else torch.zeros_like(current)

    def update(self, **kwargs) -> None:
        super().update(**kwargs)

    def reset_state_variables(self) -> None:
        self._step = 0
        for module in self.ops:
            if isinstance(module, SpikeMaxPool2d):
                module.reset()

    def normalize(self) -> None:
        """Weights are the ANN's own; nothing to normalise."""
