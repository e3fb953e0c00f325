"""Checkpoints: weights plus the plain data needed to rebuild the network and its input.

A checkpoint is a dict of tensors and primitives, so it loads with ``weights_only=True``
(no pickled code runs). Files are written to a temporary name and renamed
(``neurosnn.output.atomic``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurosnn.errors import UserError
from neurosnn.networks import NetworkSpec
from neurosnn.output import atomic

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable or incomplete."""


@dataclass
class Checkpoint:
    """Contents of a checkpoint file."""

    spec: NetworkSpec
    state_dict: dict[str, torch.Tensor]
    dataset: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    epoch: int
    test_accuracy: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    config: dict[str, Any] | None = None  # the training settings (neurosnn.train.TrainConfig)
    data_fingerprint: str | None = None  # neurosnn.data.fingerprint of the data trained on

    def build(self) -> nn.Module:
        model = self.spec.build()
        model.load_state_dict(self.state_dict)
        return model.eval()


def resolve(path: str | Path) -> Path:
    """A checkpoint file, or a run folder holding ``checkpoint.pt``."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = asdict(ckpt)
    payload["spec"] = asdict(ckpt.spec)
    payload["mean"], payload["std"] = list(ckpt.mean), list(ckpt.std)
    with atomic(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint file or ``<folder>/checkpoint.pt`` without running pickled code."""
    file = resolve(path)
    if not file.is_file():
        raise CheckpointError(f"no checkpoint at {file}")
    try:
        payload = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several unrelated types for corrupt files
        said = str(err).strip() or type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {file}: {said}") from err
    required = {"spec", "state_dict", "dataset", "mean", "std", "epoch"}
    if not isinstance(payload, dict) or not required <= payload.keys():
        missing = required - (payload.keys() if isinstance(payload, dict) else set())
        raise CheckpointError(f"{file} is not a neurosnn checkpoint (missing {sorted(missing)})")
    try:
        payload["spec"] = NetworkSpec(**payload["spec"])
        payload["mean"], payload["std"] = tuple(payload["mean"]), tuple(payload["std"])
        ckpt = Checkpoint(**payload)
        ckpt.build()  # the network exists and the weights fit it
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        said = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        said = said[:300] or type(err).__name__
        raise CheckpointError(f"{file} is not a usable neurosnn checkpoint: {said}") from err
    return ckpt
