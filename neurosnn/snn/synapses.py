"""BindsNET connection that applies the ANN's linear operators between two spiking layers, and
the operators a connection may hold beside the ANN's own modules.

Everything between two activations of the ANN (pooling, flatten, convolutions, linear layers,
sums, concatenations, constant scales and shifts) is linear, so the current a layer receives is
a sum of one chain of operators per source layer: one connection per (source, target) pair,
and a layer sums all its incoming connections, as BindsNET's ``Network`` does.

A spike of layer n stands for that layer's threshold ``Vth_n`` (Eq. 6 of Lu & Sengupta: the
SNN approximates the ANN with activations clipped at ``Vth_n``), so the connection applies the
ANN's own weights to *threshold-valued* spikes ``s·Vth_n``. ``s·Vth`` is exact in floating
point (s ∈ {0, 1}), so a sample's current depends only on its own threshold: a batch mixing
samples with different thresholds computes, bit for bit, what separate runs compute.

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

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode = bool(ceil_mode)  # partial windows at the border, as MaxPool2d's
        self.counts: torch.Tensor | None = None

    def gate(self, s: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Pool ``s`` ``[N, C, H, W]`` by the argmax of ``counts`` (same shape) per window."""
        _, idx = F.max_pool2d(
            counts,
            self.kernel_size,
            self.stride,
            self.padding,
            ceil_mode=self.ceil_mode,
            return_indices=True,
        )
        return s.flatten(2).gather(2, idx.flatten(2)).view_as(idx)

    def forward(self, s: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, H', W']
        fired = s.ne(0).to(s.dtype)
        self.counts = fired if self.counts is None else self.counts + fired
        return self.gate(s, self.counts)

    def reset(self) -> None:
        self.counts = None


class ScaleShift(nn.Module):
    """``x·scale + shift``, both broadcast over one sample (``[C, 1, 1]`` per channel, ``[]``
    for all): an input normalisation inside the model, a BatchNorm that follows no Conv2d or
    Linear, a constant factor, a channel-wise threshold on a connection without weights."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).clone())
        self.register_buffer(
            "shift", None if shift is None else torch.as_tensor(shift, dtype=torch.float32).clone()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * self.scale
        return y if self.shift is None else y + self.shift

    def extra_repr(self) -> str:
        return f"scale={tuple(self.scale.shape)}, shift={self.shift is not None}"


class ChannelPad(nn.Module):
    """Zero channels ``before`` and ``after`` the input's (dim 1): one part of a concatenation
    along channels (``torch.cat(parts, dim=1)`` is the sum of its padded parts)."""

    def __init__(self, before: int, after: int) -> None:
        super().__init__()
        self.before, self.after = int(before), int(after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (0, 0) * (x.dim() - 2) + (self.before, self.after)
        return F.pad(x, pad)

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}"


class UnitSpikes(nn.Module):
    """Opens a connection whose weights expect spikes of 1 (imported from a NIR graph with the
    thresholds folded into the weights): neurosnn hands a connection threshold-valued spikes
    ``s·θ``; this gives back ``s``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.ne(0).to(x.dtype)


WEIGHTED = (nn.Conv2d, nn.Linear)


class OpsConnection(AbstractConnection):
    """Connection whose current is ``ops(s · Vth_source)``; ``ops`` is an ``nn.Sequential`` of
    linear operators (none for an identity shortcut), with the ANN's weights."""

    def __init__(self, source: Nodes, target: Nodes, ops: nn.Sequential) -> None:
        super().__init__(source, target)
        self.ops = ops
        # steps whose current is withheld (bias onset, see neurosnn.simulation.run); counted
        # from reset
        self.onset = 0
        self._step = 0

    @property
    def weighted_modules(self) -> list[nn.Module]:
        """The Conv2d and Linear modules of the connection, in order."""
        return [m for m in self.ops if isinstance(m, WEIGHTED)]

    @property
    def weighted(self) -> nn.Module:
        """The connection's one Conv2d or Linear (raises if it has none or several)."""
        found = self.weighted_modules
        if len(found) != 1:
            raise ValueError(f"the connection holds {len(found)} Conv2d/Linear modules, not one")
        return found[0]

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
