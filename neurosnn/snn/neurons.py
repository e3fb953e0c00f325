"""Integrate-and-fire dynamics as pure step functions, with thin BindsNET ``Nodes`` shells.

Subtractive-reset IF, Eq. 1–2 of Lu & Sengupta (after Rueckauer et al. 2017):
``V[t] = V[t-1] + x[t]``; ``s[t] = H(V[t] - Vth)``; ``V[t] -= s[t]·Vth``. The neuron fires when
the potential reaches the threshold (``>=``), so a constant input ``c`` with ``0 < c <= Vth``
gives exactly ``floor(t·c/Vth)`` spikes after ``t`` steps (``floor(t·c/Vth + φ)`` when the
potential starts at ``φ·Vth``).
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

    def initial_v(self) -> torch.Tensor:
        """The potential every sample starts from (a scalar)."""
        return torch.zeros((), device=self.v.device)

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        self.v.copy_(self.initial_v().expand_as(self.v))

    def set_batch_size(self, batch_size: int) -> None:
        super().set_batch_size(batch_size)
        v = torch.empty(batch_size, *self.shape, device=self.v.device)
        self.v = v.copy_(self.initial_v().expand_as(v))


class SubtractiveIFNodes(_PotentialNodes):
    """BindsNET layer of subtractive-reset IF neurons sharing one threshold ``thresh``.

    ``thresh``, ``phi`` and ``offset`` are buffers: changing them in place retunes the layer
    without rebuilding anything. The potential starts (and resets) at ``phi · thresh +
    offset``: ``phi = 0.5`` is the half-threshold initial potential of Bu et al. (ICLR 2022),
    which centres the rounding of the spike count (``floor(t·c/θ + φ)`` spikes under a
    constant input ``c``); ``offset`` (one value per neuron, in ANN units, zero unless set) is
    the initial potential Li et al.'s potential calibration adds
    (``neurosnn.conversion.biascal.calibrate_potentials``).
    """

    def __init__(self, shape: Iterable[int], thresh: float = 1.0, phi: float = 0.0) -> None:
        super().__init__(shape)
        self.register_buffer("thresh", torch.tensor(float(thresh)))
        self.register_buffer("phi", torch.tensor(float(phi)))
        self.register_buffer("offset", torch.zeros(*self.shape))

    def initial_v(self) -> torch.Tensor:
        return self.phi * self.thresh + self.offset

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
