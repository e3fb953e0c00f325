"""End-to-end surrogate-gradient training of SNNs from scratch (AGD; Panda, Aketi & Roy 2020
§3.2 and §6, after Neftci et al. 2019), with stochmax and hybrid ReLU/LIF networks.

``SpikingNet`` runs any registered network with its ReLUs replaced by LIF neurons (θ, leak
λ, reset; ``neurosnn.learn.surrogate.neurons``), all layers within a step (no per-layer delay), the
normalised image as a constant input current. ``relu_layers = k`` keeps the first k ReLU layers
as an ANN block computed once; its real-valued output feeds the SNN block at every step (the
hybrid network of Panda et al. §6). The last layer accumulates its input; the logits are the
mean output current. With ``stochmax`` a retain head on the last hidden layer's mean spike rate
gives DropMax's ρ (``neurosnn.learn.surrogate.stochmax``). The network's own modules are used, so
training changes the model in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from neurosnn.conversion.pipeline import chain_stages
from neurosnn.errors import UserError
from neurosnn.io.data import Split
from neurosnn.learn.surrogate.network import Unrolled
from neurosnn.learn.surrogate.neurons import lif_step
from neurosnn.learn.surrogate.sparsity import Schedule, sparsity_loss
from neurosnn.learn.surrogate.spike import surrogate
from neurosnn.learn.surrogate.stochmax import stochmax_log_probs, stochmax_loss


@dataclass(frozen=True)
class AGDConfig:
    """Neurons and classifier of a ``SpikingNet``."""

    timesteps: int = 25
    theta: float = 1.0
    leak: float = 0.99
    reset: Literal["subtract", "zero"] = "subtract"
    surrogate: str = "linear"
    gamma: float = 0.3  # slope of the linear surrogate (0.15 in the fine-tuning of Lu & Sengupta)
    relu_layers: int = 0  # hybrid: this many first layers stay ReLU
    stochmax: bool = False

    def __post_init__(self) -> None:
        if self.timesteps < 1:
            raise UserError(f"timesteps must be >= 1, got {self.timesteps}")
        if self.relu_layers < 0:
            raise UserError(f"relu_layers must be >= 0, got {self.relu_layers}")


class SpikingNet(nn.Module):
    """A registry network as an LIF (or hybrid ReLU/LIF) SNN for BPTT."""

    def __init__(self, model: nn.Module, cfg: AGDConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        groups = chain_stages(model, input_shape)
        if cfg.relu_layers >= len(groups):
            raise ValueError(
                f"relu_layers must leave at least the output layer, got {cfg.relu_layers} of "
                f"{len(groups) - 1} hidden layers"
            )
        self.names = [name for name, _ in groups]
        self.stages = nn.ModuleList(stage for _, stage in groups)
        self.cfg, self.input_shape = cfg, tuple(input_shape)
        kw = {"gamma": cfg.gamma} if cfg.surrogate == "linear" else {}
        self.fn = surrogate(cfg.surrogate, **kw)
        self.retain = None
        if cfg.stochmax:
            with torch.no_grad():
                h = torch.zeros(1, *input_shape)
                for stage in self.stages[:-1]:
                    h = stage(h)
            self.retain = nn.Linear(h[0].numel(), self.stages[-1](h).shape[1])

    @property
    def spiking_names(self) -> list[str]:
        return self.names[self.cfg.relu_layers : -1]

    def forward(self, x: torch.Tensor) -> Unrolled:
        cfg, last = self.cfg, len(self.stages) - 1
        h = x
        for stage in self.stages[: cfg.relu_layers]:  # the ANN block, once
            h = torch.relu(stage(h))
        v: list[torch.Tensor | None] = [None] * last
        total, per_layer = x.new_zeros(len(x)), dict.fromkeys(self.spiking_names, 0.0)
        out, outputs, rate, hidden = None, [], None, []
        for t in range(cfg.timesteps):
            z = h
            for i in range(cfg.relu_layers, last):
                cur = self.stages[i](z)
                v_i = torch.zeros_like(cur) if v[i] is None else v[i]
                z, v[i] = lif_step(cur, v_i, cfg.theta, cfg.leak, self.fn, cfg.reset)
                count = z.flatten(1).sum(1)
                total = total + count
                per_layer[self.names[i]] += float(count.detach().sum())
            cur = self.stages[last](z)
            out = cur if out is None else out + cur
            outputs.append(out)
            flat = z.flatten(1)
            rate = flat if rate is None else rate + flat
            hidden.append(rate / (t + 1))
        return Unrolled(torch.stack(outputs), total, torch.stack(hidden), per_layer)

    def log_probs(self, run: Unrolled, target: torch.Tensor | None = None) -> torch.Tensor:
        """Per step ``[T, B, classes]``: softmax of the mean output current so far, or the
        stochmax form (masked with ``target`` given, expected without)."""
        steps = torch.arange(1, len(run.output) + 1, device=run.output.device).view(-1, 1, 1)
        logits = run.output / steps
        if self.retain is None:
            return F.log_softmax(logits, dim=-1)
        rho = torch.sigmoid(self.retain(run.hidden))
        return torch.stack(
            [stochmax_log_probs(o, r, target) for o, r in zip(logits, rho, strict=True)]
        )

    def loss(self, run: Unrolled, y: torch.Tensor) -> torch.Tensor:
        logits = run.logits()
        if self.retain is None:
            return F.cross_entropy(logits, y)
        return stochmax_loss(logits, torch.sigmoid(self.retain(run.hidden[-1])), y)


@dataclass(frozen=True)
class TrainAGDConfig:
    """Training of a ``SpikingNet`` (Adam), with an optional sparsity term."""

    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    sparsity: Schedule | None = None
    sigma0: float = 0.0
    seed: int = 0


def train_agd(
    net: SpikingNet, train: Split, cfg: TrainAGDConfig, device="cpu", progress: bool = True
) -> list[dict[str, float]]:
    """BPTT over T steps for every batch; returns per-epoch loss, spikes per image, seconds."""
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        start, losses, spikes, seen = time.perf_counter(), [], 0.0, 0
        batches = train.batches(cfg.batch_size, shuffle=True, seed=cfg.seed + epoch)
        for x, y in tqdm(
            batches, desc=f"AGD epoch {epoch}", disable=None if progress else True, leave=False
        ):
            x, y = x.to(device), y.to(device)
            run = net(x)
            loss = net.loss(run, y)
            if cfg.sparsity is not None:
                loss = loss + sparsity_loss(run.spikes, cfg.sparsity, cfg.sigma0, epoch, cfg.epochs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            spikes += float(run.spikes.detach().sum())
            seen += len(y)
        history.append(
            {
                "epoch": epoch,
                "loss": sum(losses) / len(losses),
                "spikes_per_image": spikes / seen,
                "seconds": time.perf_counter() - start,
            }
        )
    return history


@torch.no_grad()
def evaluate_agd(net: SpikingNet, split: Split, device="cpu", batch_size: int = 256) -> dict:
    """Accuracy at every step ``[T]``, spikes per image (total and per layer)."""
    net.to(device).eval()
    correct, spikes, n = None, 0.0, 0
    layers = dict.fromkeys(net.spiking_names, 0.0)
    for x, y in split.batches(batch_size):
        x, y = x.to(device), y.to(device)
        run = net(x)
        right = (net.log_probs(run).argmax(-1) == y).sum(1).cpu()
        correct = right if correct is None else correct + right
        spikes += float(run.spikes.sum())
        for k, c in run.layer_spikes.items():
            layers[k] += c
        n += len(y)
    return {
        "accuracy": (correct.double() / n).tolist(),
        "spikes_per_image": spikes / n,
        "layer_spikes": {k: c / n for k, c in layers.items()},
        "images": n,
    }
