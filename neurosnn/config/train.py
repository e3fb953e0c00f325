"""What ANN training depends on (``neurosnn.learn.train``, ``neurosnn train``); without torch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError
from neurosnn.io.options import DatasetName

# network options for 28×28 data sets, so that a VGG9 trains in minutes on a CPU
DATASET_OPTIONS = {
    "fashion-mnist": {"width": 0.25, "batch_norm": True},
    "mnist": {"width": 0.25, "batch_norm": True},
}


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of ANN training."""

    epochs: int = fields.epochs(10)
    batch_size: int = fields.batch_size(128)
    optimizer: Literal["sgd", "adam"] = option(
        "sgd", help="SGD with Nesterov momentum, or Adam", group="training"
    )
    lr: float = fields.lr(0.05)
    momentum: float = 0.9
    weight_decay: float = option(5e-4, help="L2 weight decay", group="training", metavar="WD")
    schedule: Literal["cosine", "step", "none"] = option(
        "cosine", help="the learning-rate schedule", group="training"
    )
    seed: int = fields.seed()
    test_images: int = fields.test_images()  # each epoch's test (None, as 0.2 wrote: all)

    def __post_init__(self) -> None:
        if self.test_images is not None and self.test_images < 0:
            raise UserError(f"test_images must be >= 0 (0: all), got {self.test_images}")
        if self.epochs < 1:
            raise UserError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("sgd", "adam"):
            raise UserError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "step", "none"):
            raise UserError(f"schedule must be cosine, step or none, got {self.schedule!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"lr must be a finite number > 0, got {self.lr}")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"{name} must be a finite number >= 0, got {value}")


@dataclass(frozen=True)
class Network:
    """A network of neurosnn's registry (``neurosnn.networks``) and its options."""

    net: str = fields.net("vgg9")
    options: dict[str, Any] = fields.net_options(
        {}, "width=0.25, batch_norm=true on 28×28 data sets; none elsewhere"
    )


@dataclass(frozen=True)
class TrainData:
    """The data an ANN trains on."""

    dataset: DatasetName = fields.dataset("fashion-mnist")
    data_root: str | None = fields.data_root()
    train_images: int = fields.train_images(0)

    def __post_init__(self) -> None:
        if self.train_images < 0:
            raise UserError(f"train_images must be >= 0 (0: all), got {self.train_images}")
