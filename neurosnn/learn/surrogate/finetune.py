"""BPTT fine-tuning of a converted SNN (Lu & Sengupta §V-C, the comparison of Fig. 4–5).

Starting from the converted network (99.7-percentile thresholds), the weights are trained
through the T-step unrolled graph with surrogate gradients (linear, γ = 0.15, Eq. 18) on the
cross entropy of the mean output current; thresholds stay fixed.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from neurosnn.config.bptt import FinetuneConfig
from neurosnn.io.data import Split
from neurosnn.learn.surrogate.network import SurrogateSNN


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
