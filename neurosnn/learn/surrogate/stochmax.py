"""Stochastic softmax (stochmax) classifier: DropMax (Lee et al. 2018), as used by Panda, Aketi &
Roy (2020) for SNN classifiers.

Each class k has a retain probability ``ρ_k = sigmoid(v_k·h + c_k)`` from a learned head on the
last features h. Training draws ``z_k ~ Bernoulli(ρ_k)`` for the non-target classes (the target
is always kept) and uses ``p_k = z_k·exp(o_k) / Σ_j z_j·exp(o_j)``; at test the deterministic
expected form ``p_k ∝ ρ_k·exp(o_k)`` is used. ρ is trained by a binary cross entropy towards
keeping the target class (DropMax's auxiliary term; its variational KL regulariser is left
out). With ρ = 1 everywhere both forms are the softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class StochMax(nn.Module):
    """Class scores ``o`` and retain probabilities ``ρ`` from features ``[B, features]``."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.scores = nn.Linear(features, classes)
        self.retain = nn.Linear(features, classes)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(o [B, classes], ρ [B, classes])``."""
        return self.scores(h), torch.sigmoid(self.retain(h))


def stochmax_log_probs(
    o: torch.Tensor,
    rho: torch.Tensor,
    target: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Log class probabilities: masked (training, ``target`` given) or expected (test)."""
    if target is None:
        return F.log_softmax(o + torch.log(rho.clamp_min(1e-12)), dim=1)
    u = torch.rand(rho.shape, generator=generator, device=rho.device)
    keep = (u < rho.detach()) | F.one_hot(target, o.shape[1]).bool()  # the target always stays
    return F.log_softmax(o.masked_fill(~keep, float("-inf")), dim=1)


def stochmax_loss(
    o: torch.Tensor,
    rho: torch.Tensor,
    target: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cross entropy of the masked softmax plus the retain head's target term."""
    ce = F.nll_loss(stochmax_log_probs(o, rho, target, generator), target)
    keep_target = rho.gather(1, target.unsqueeze(1)).clamp(1e-6, 1)
    return ce - torch.log(keep_target).mean()
