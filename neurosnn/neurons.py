"""Integrate-and-fire dynamics as pure step functions, with thin BindsNET ``Nodes`` shells.

Subtractive-reset IF, Eq. 1–2 of Lu & Sengupta (after Rueckauer et al. 2017):
``V[t] = V[t-1] + x[t]``; ``s[t] = H(V[t] - Vth)``; ``V[t] -= s[t]·Vth``. The neuron fires when
the potential reaches the threshold (``>=``), so a constant input ``c`` with ``0 < c <= Vth``
gives exactly ``floor(t·c/Vth)`` spikes after ``t`` steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch
from bindsnet.network.nodes import Nodes


class IFState(NamedTuple):
    v: torch.Tensor  # [B, *layer_shape]


def if_step(x: torch.Tensor, state: IFState, v_th: torch.Tensor) -> tuple[torch.Tensor, IFState]:
    """One subtractive-reset IF step (Eq. 1–2). Returns float spikes and the new state."""
    v = state.v + x
    s = torch.ge(v, v_th, out=torch.empty_like(v))  # compares straight into floats (no cast)
    return s, IFState(torch.addcmul(v, s, v_th, value=-1))  # v - s·v_th in one pass


def accumulate_step(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Output layer: a non-spiking integrator whose potential is the running sum of its input."""
    return v + x


class _PotentialNodes(Nodes):
    """BindsNET nodes with a membrane potential ``v`` kept per sample."""

    def __init__(self, shape: Iterable[int]) -> None:
        super().__init__(shape=list(shape))
        self.register_buffer("v", torch.FloatTensor())

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        self.v.zero_()

    def set_batch_size(self, batch_size: int) -> None:
        super().set_batch_size(batch_size)
        self.v = torch.zeros(batch_size, *self.shape, device=self.v.device)


class SubtractiveIFNodes(_PotentialNodes):
    """BindsNET layer of subtractive-reset IF neurons sharing one threshold ``thresh``.

    ``thresh`` is a buffer: changing it in place retunes the layer without rebuilding anything.
    """

    def __init__(self, shape: Iterable[int], thresh: float = 1.0) -> None:
        super().__init__(shape)
        self.register_buffer("thresh", torch.tensor(float(thresh)))

    def forward(self, x: torch.Tensor) -> None:
        s, state = if_step(x, IFState(self.v), self.thresh)
        self.v = state.v
        self.s = s.bool()
        super().forward(x)


class AccumulatorNodes(_PotentialNodes):
    """BindsNET output layer that integrates its input and never spikes (``v`` = evidence)."""

    def forward(self, x: torch.Tensor) -> None:
        self.v = accumulate_step(x, self.v)
        super().forward(x)
