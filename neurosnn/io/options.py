"""The data sets neurosnn reads, without torch (the command line offers them before it loads
the readers)."""

from __future__ import annotations

from typing import Literal

DatasetName = Literal["fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet", "synthetic"]
DATASETS: tuple[str, ...] = (
    "fashion-mnist",
    "mnist",
    "cifar10",
    "cifar100",
    "imagenet",
    "synthetic",
)
