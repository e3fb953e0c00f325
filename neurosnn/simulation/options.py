"""How a converted SNN may be run, without torch (the command line checks these values before it
imports the simulator): the connections' arithmetic, the per-layer delay, when biases act,
the input encoding and SRP's pre-simulation."""

from __future__ import annotations

from typing import Literal

from neurosnn.errors import UserError

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
Delay = Literal["layer", "none"]
DELAYS: tuple[str, ...] = ("layer", "none")
BiasOnset = Literal["always", "input"]
BIAS_ONSETS: tuple[str, ...] = ("always", "input")
Encoding = Literal["current", "bernoulli", "poisson"]
ENCODINGS: tuple[str, ...] = ("current", "bernoulli", "poisson")


# the most steps a simulation runs (its curves hold a value per step and layer; a T of 10¹²
# would fail only once the first arrays were allocated)
MAX_TIMESTEPS = 1_000_000


def check_timesteps(timesteps: int, name: str = "timesteps") -> None:
    """``timesteps`` must be a whole number in [1, ``MAX_TIMESTEPS``]."""
    if isinstance(timesteps, bool) or int(timesteps) != timesteps:
        raise UserError(f"{name} must be a whole number, got {timesteps!r}")
    if not 1 <= timesteps <= MAX_TIMESTEPS:
        raise UserError(f"{name} must be in [1, {MAX_TIMESTEPS:,}], got {timesteps:,}")


def check_presim(presim: int, timesteps: int | None = None) -> None:
    """``presim`` (SRP's τ) must be an integer in [0, T) (the second phase needs a step);
    without ``timesteps``, an integer >= 0."""
    if int(presim) != presim or presim < 0:
        raise UserError(f"presim must be an integer >= 0, got {presim}")
    if timesteps is not None and presim >= timesteps:
        raise UserError(f"presim must be an integer in [0, T) = [0, {timesteps}), got {presim}")
