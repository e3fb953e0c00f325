"""Heaviside spikes with surrogate gradients, selected by name.

Forward: ``s = H(V)`` (1 where ``V >= 0``) on the normalised membrane potential
``V = (v − θ) / θ``. Backward: the derivative of a smooth stand-in for H:

* ``linear`` (Bellec et al. 2018; Lu & Sengupta Eq. 18 with γ = 0.15):
  ``γ·max(0, 1 − |V|)``;
* ``fast-sigmoid`` (Zenke & Ganguli 2018, SuperSpike): ``1 / (1 + k|V|)²``, k = 10;
* ``arctan`` (Fang et al. 2021): ``a / (2·(1 + (π a V / 2)²))``, a = 2.

Each entry also gives the stand-in itself (``primitive``), whose finite differences the tests
compare the backward against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Surrogate:
    """A surrogate: ``derivative(V)`` used in the backward pass and its ``primitive(V)``."""

    name: str
    derivative: Callable[[torch.Tensor], torch.Tensor]
    primitive: Callable[[torch.Tensor], torch.Tensor]


def linear(gamma: float = 0.15) -> Surrogate:
    def derivative(v):
        return gamma * torch.clamp(1 - v.abs(), min=0)

    def primitive(v):  # γ·∫ max(0, 1 − |u|) du from −1: a piecewise quadratic from 0 to γ
        u = v.clamp(-1, 1)
        return gamma * (0.5 + u - u * u.abs() / 2)

    return Surrogate("linear", derivative, primitive)


def fast_sigmoid(k: float = 10.0) -> Surrogate:
    def derivative(v):
        return 1 / (1 + k * v.abs()) ** 2

    def primitive(v):
        return v / (1 + k * v.abs())

    return Surrogate("fast-sigmoid", derivative, primitive)


def arctan(a: float = 2.0) -> Surrogate:
    def derivative(v):
        return a / (2 * (1 + (math.pi * a * v / 2) ** 2))

    def primitive(v):
        return torch.atan(math.pi * a * v / 2) / math.pi

    return Surrogate("arctan", derivative, primitive)


SURROGATES: dict[str, Callable[..., Surrogate]] = {
    "linear": linear,
    "fast-sigmoid": fast_sigmoid,
    "arctan": arctan,
}


def surrogate(name: str, **params: float) -> Surrogate:
    """A surrogate by name (``linear``, ``fast-sigmoid``, ``arctan``) with its parameters."""
    if name not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; known: {', '.join(SURROGATES)}")
    return SURROGATES[name](**params)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, derivative):
        ctx.save_for_backward(v)
        ctx.derivative = derivative
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * ctx.derivative(v), None


def spike(v: torch.Tensor, fn: Surrogate) -> torch.Tensor:
    """``H(v)`` forward, ``fn.derivative(v)`` backward."""
    return _Spike.apply(v, fn.derivative)
