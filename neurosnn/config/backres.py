"""What the BackRes comparison depends on (Panda, Aketi & Roy; ``neurosnn.jobs.backres``,
``neurosnn backres``); without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError


@dataclass(frozen=True)
class BackResConfig:
    """The networks, their training and the T values reported."""

    nets: tuple[str, ...] = fields.net(
        ("vgg7", "vgg2x4", "vgg3x2-v1"), name="net", deprecated=("--nets",)
    )
    options: dict[str, Any] = fields.net_options({"width": 0.25, "batch_norm": True})
    epochs: int = fields.epochs(3)
    train_images: int = fields.train_images(20000)
    test_images: int = fields.test_images()
    timesteps: tuple[int, ...] = option(
        (50, 100, 200),
        help="the T values reported (one simulation to the largest), repeated or separated by "
        "commas",
        group="simulation",
        metavar="T",
    )
    seed: int = fields.seed()
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.nets:
            raise UserError("nets: give at least one network")
        if not self.timesteps or min(self.timesteps) < 1:
            raise UserError(f"timesteps must be positive integers, got {list(self.timesteps)}")
