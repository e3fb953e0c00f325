"""IF and LIF neurons for BPTT: pure step functions with explicit state, thin modules.

IF (subtractive reset; Eq. 1–2 of Lu & Sengupta): ``v += x; s = H(v − θ); v −= s·θ``.
LIF (Panda et al., AGD): ``v = λ·v + x; s = H(v − θ)``, then ``v −= s·θ`` (``reset="subtract"``)
or ``v ·= 1 − s`` (``reset="zero"``), λ ∈ (0, 1] the leak per step.

The spike is taken on the normalised potential ``(v − θ)/θ``, which has the sign of ``v − θ``
in floating point, so the forward pass fires exactly where ``v >= θ``, as the BindsNET engine
does; the surrogate (``neurosnn.learn.surrogate.spike``) shapes the backward pass only.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from neurosnn.learn.surrogate.spike import Surrogate, spike, surrogate

Reset = Literal["subtract", "zero"]


def if_step(
    x: torch.Tensor, v: torch.Tensor, theta: torch.Tensor | float, fn: Surrogate
) -> tuple[torch.Tensor, torch.Tensor]:
    """One IF step: ``(spikes 0/1, new potential)``."""
    v = v + x
    s = spike((v - theta) / theta, fn)
    return s, v - s * theta


def lif_step(
    x: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor | float,
    leak: float,
    fn: Surrogate,
    reset: Reset = "subtract",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step: ``(spikes 0/1, new potential)``."""
    v = leak * v + x
    s = spike((v - theta) / theta, fn)
    return s, (v - s * theta) if reset == "subtract" else v * (1 - s)


class LIF(nn.Module):
    """LIF neurons (IF when ``leak = 1`` and ``reset = "subtract"``); state passed explicitly."""

    def __init__(
        self,
        theta: float = 1.0,
        leak: float = 1.0,
        reset: Reset = "subtract",
        fn: Surrogate | str = "linear",
    ) -> None:
        super().__init__()
        if not theta > 0:
            raise ValueError(f"theta must be > 0, got {theta}")
        if not 0 < leak <= 1:
            raise ValueError(f"leak must be in (0, 1], got {leak}")
        if reset not in ("subtract", "zero"):
            raise ValueError(f"reset must be 'subtract' or 'zero', got {reset!r}")
        self.theta, self.leak, self.reset = theta, leak, reset
        self.fn = surrogate(fn) if isinstance(fn, str) else fn

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return lif_step(x, v, self.theta, self.leak, self.fn, self.reset)
