"""ReLU classifiers trained by backpropagation on the spike activity of the last STDP layer
(Panda, Aketi & Roy 2020, §4.3 and §6): the input is the spike count of each neuron over the T
steps of a presentation, divided by T.

``fc``: FC1 (``hidden`` ReLU units) – FC2, the classifier of the paper's Table 7. ``convnn``: the
deeper "ConvNN" classifier of §6, whose Table 13 is missing from the text; here two 3×3
convolutions of ``channels`` maps with ReLU, 2×2 max-pooling, FC ``hidden`` – FC (a two-conv
head in the spirit of the paper's "larger convolutional network"). ``linear``: one linear layer,
the readout of Kheradpisheh et al. (2018; a linear SVM there) and Diehl & Cook (2015).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from neurosnn.errors import UserError

Classifier = Literal["fc", "convnn", "linear"]
CLASSIFIERS: tuple[str, ...] = ("fc", "convnn", "linear")


def build_classifier(
    kind: Classifier,
    in_shape: tuple[int, int, int],
    num_classes: int,
    hidden: int = 256,
    channels: int = 64,
) -> nn.Sequential:
    """The classifier ``kind`` for features of shape ``in_shape`` (C, H, W)."""
    c, h, w = in_shape
    if kind == "linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))
    if kind == "fc":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )
    if kind == "convnn":
        if h < 2 or w < 2:
            raise ValueError(f"convnn needs feature maps of at least 2×2, got {h}×{w}")
        return nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(channels * (h // 2) * (w // 2), hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
    raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {kind!r}")


class SameTopologyANN(nn.Module):
    """The ANN control of an STDP network: the same convolutions (``specs``: a BackRes layer
    applies its one convolution ``repeat`` times, so its weights are shared), ReLU in place of
    the LIF neurons, max-pooling in place of the OR-pooling, then the classifier ``kind``; all
    of it trained end to end by backpropagation on the pixels in [0, 1] (what the STDP network
    sees as spike probabilities). What the unsupervised features would reach with labels."""

    def __init__(self, specs, in_shape: tuple[int, int, int], kind: Classifier, num_classes: int):
        super().__init__()
        c, h, w = in_shape
        self.convs, self.specs = nn.ModuleList(), list(specs)
        for spec in self.specs:
            self.convs.append(nn.Conv2d(c, spec.channels, spec.kernel, padding=spec.kernel // 2))
            c, h, w = spec.channels, h // spec.pool, w // spec.pool
        self.head = build_classifier(kind, (c, h, w), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, spec in zip(self.convs, self.specs, strict=True):
            for _ in range(spec.repeat):
                x = F.relu(conv(x))
            if spec.pool > 1:
                x = F.max_pool2d(x, spec.pool)
        return self.head(x)


@dataclass(frozen=True)
class ReadoutConfig:
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 128
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise UserError(
                f"need epochs >= 1, batch_size >= 1, lr > 0, got {self.epochs}, "
                f"{self.batch_size}, {self.lr}"
            )


def rates(counts: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Spike counts over T → rates in [0, 1] (the classifier's input)."""
    return counts.float() / timesteps


def train_classifier(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    cfg: ReadoutConfig = ReadoutConfig(),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[float]:
    """Adam on cross-entropy; returns the mean loss of each epoch. ``features`` are rates."""
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = []
    for _ in tqdm(range(cfg.epochs), desc="classifier", unit="epoch", disable=not progress):
        order, total = torch.randperm(len(labels), generator=gen), 0.0
        for start in range(0, len(labels), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            x, y = features[idx].to(device), labels[idx].to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(labels))
    model.eval()
    return losses


@torch.no_grad()
def accuracy(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device | str = "cpu",
    batch_size: int = 1024,
) -> float:
    model.to(device).eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        x = features[start : start + batch_size].to(device)
        correct += int((model(x).argmax(1).cpu() == labels[start : start + batch_size]).sum())
    return correct / len(labels)
