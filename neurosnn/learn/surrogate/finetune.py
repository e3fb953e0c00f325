"""BPTT fine-tuning of a converted SNN (Lu & Sengupta §V-C, the comparison of Fig. 4–5).

Starting from the converted network (99.7-percentile thresholds), the weights are trained
through the T-step unrolled graph with surrogate gradients (linear, γ = 0.15, Eq. 18) on the
cross entropy of the mean output current; thresholds stay fixed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from neurosnn.errors import UserError
from neurosnn.io.data import Split
from neurosnn.learn.surrogate.network import SurrogateSNN


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of BPTT fine-tuning (T = 70 in the paper)."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 1e-4
    timesteps: int = 70
    max_batches: int | None = None  # per epoch (None: the whole split)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.timesteps < 1:
            raise UserError("epochs, batch_size and timesteps must be >= 1")
        if not self.lr > 0:
            raise UserError(f"lr must be > 0, got {self.lr}")


def bptt_step(net: SurrogateSNN, x: torch.Tensor, y: torch.Tensor, timesteps: int, opt) -> float:
    """One BPTT update on a batch; returns the loss."""
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x, timesteps).logits(), y)
    loss.backward()
    opt.step()
    return float(loss.detach())


def finetune(
    net: SurrogateSNN,
    train: Split,
    cfg: FinetuneConfig,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``net``'s weights with BPTT; returns per-epoch mean loss and seconds."""
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    history = []
    for epoch in range(cfg.epochs):
        start, losses = time.perf_counter(), []
        batches = train.batches(cfg.batch_size, shuffle=True, seed=cfg.seed + epoch)
        total = -(-len(train) // cfg.batch_size)
        if cfg.max_batches is not None:
            total = min(total, cfg.max_batches)
        for i, (x, y) in enumerate(
            tqdm(
                batches,
                total=total,
                desc=f"BPTT epoch {epoch + 1}",
                disable=None if progress else True,
                leave=False,
            )
        ):
            if i == total:
                break
            losses.append(bptt_step(net, x.to(device), y.to(device), cfg.timesteps, opt))
        history.append(
            {
                "epoch": epoch + 1,
                "loss": sum(losses) / len(losses),
                "seconds": time.perf_counter() - start,
            }
        )
    return history
