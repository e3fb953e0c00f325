"""Spike-count sparsity loss schedules (Allred, Spencer, Srinivasan & Roy, Eq. 3–8).

``L = L_class + σ(spikeCount)`` with ``σ = w(n) · spikeCount``, n the epoch (1 … N):

* ``constant``  (Eq. 4): ``w = σ₀``
* ``linear``    (Eq. 5): ``w = σ₀ · n/N``
* ``quadratic`` (Eq. 6): ``w = σ₀ · n²/N``, as written in the paper (not n²/N²)
* ``alternating`` (Eq. 7): ``w = A(n) · σ₀``
* ``alternating-linear`` (Eq. 8): ``w = A(n) · σ₀ · n/N``

A(n) ∈ {0, 1} switches the term on in a share of epochs that rises linearly from none in the
first epoch to all in the last. The paper describes A only in words; here its density in epoch
n is (n − 1)/(N − 1) and A(n) is the error-diffusion rounding of that density,
``A(n) = ⌊n(n−1)/2(N−1)⌋ − ⌊(n−1)(n−2)/2(N−1)⌋``: off at first, alternating in the middle, on
at the end, with ⌊N/2⌋ epochs on in all.
"""

from __future__ import annotations

import torch

from neurosnn.config.sparsity import SCHEDULES as SCHEDULES  # re-exported
from neurosnn.config.sparsity import Schedule as Schedule


def included(epoch: int, epochs: int) -> int:
    """A(n): 1 when the sparsity term is on in epoch ``epoch`` (1-based) of ``epochs``."""
    if not 1 <= epoch <= epochs:
        raise ValueError(f"epoch must be in 1..{epochs}, got {epoch}")
    if epochs == 1:
        return 1
    d = 2 * (epochs - 1)
    return epoch * (epoch - 1) // d - (epoch - 1) * (epoch - 2) // d


def weight(schedule: Schedule, sigma0: float, epoch: int, epochs: int) -> float:
    """The factor w(n) that multiplies the spike count in epoch ``epoch`` of ``epochs``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    on = included(epoch, epochs)  # also checks the epoch
    return {
        "constant": sigma0,
        "linear": sigma0 * epoch / epochs,
        "quadratic": sigma0 * epoch**2 / epochs,
        "alternating": on * sigma0,
        "alternating-linear": on * sigma0 * epoch / epochs,
    }[schedule]


def sparsity_loss(
    spike_count: torch.Tensor, schedule: Schedule, sigma0: float, epoch: int, epochs: int
) -> torch.Tensor:
    """σ(spikeCount) averaged over the batch (``spike_count [B]``: spikes of each image)."""
    return weight(schedule, sigma0, epoch, epochs) * spike_count.float().mean()
