"""Input encodings: what the SNN's input layer emits at each timestep.

``current``: the normalised image itself every step (constant current, the default).
``bernoulli``/``poisson``: signed spike trains whose mean over time equals the normalised image:
each step emits ``a·sign(x)·n`` with ``n ~ Bernoulli(|x|/a)`` or ``n ~ Poisson(|x|/a)``, where
``a = max|x|`` of the batch, so zero input means no spikes and rates are unbiased.
"""

from __future__ import annotations

import torch

from neurosnn.simulation.options import ENCODINGS, Encoding


def encode(
    x: torch.Tensor, timesteps: int, encoding: Encoding, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Encode a normalised batch ``[B, ...]`` as ``[T, B, ...]`` (a new tensor, never a view)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    if encoding == "current":
        return x.unsqueeze(0).repeat(timesteps, *([1] * x.dim()))
    scale = x.abs().max().clamp_min(1e-12)
    rate = (x.abs() / scale).unsqueeze(0).expand(timesteps, *x.shape)
    if encoding == "bernoulli":
        n = torch.bernoulli(rate, generator=generator)
    else:
        n = torch.poisson(rate.contiguous(), generator=generator)
    return n * torch.sign(x) * scale
