"""What AGD training from scratch depends on (``neurosnn.jobs.agd``, ``neurosnn agd``); without
torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError

Variant = Literal["softmax", "stochmax", "hybrid"]
VARIANTS: tuple[str, ...] = get_args(Variant)


@dataclass(frozen=True)
class AGDJobConfig:
    """The network, the variants and their training."""

    net: str = fields.net("vgg5")
    options: dict[str, Any] = fields.net_options({"width": 0.25})
    variants: tuple[Variant, ...] = option(
        VARIANTS,
        help="the LIF SNN with a softmax or a stochmax (DropMax) classifier, and the hybrid with "
        "its first layers ReLU; repeated or separated by commas",
        group="training",
        metavar="VARIANT",
    )
    timesteps: int = fields.timesteps(25)
    report_steps: tuple[int, ...] = option(
        (5, 10, 25),
        help="the steps whose accuracy is printed, repeated or separated by commas",
        group="evaluation",
        metavar="T",
    )
    hybrid_relu_layers: int = option(
        2, help="the hybrid's first layers that stay ReLU", group="training", metavar="N"
    )
    leak: float = fields.leak()
    epochs: int = fields.epochs(2)
    lr: float = fields.lr(1e-3)
    train_images: int = fields.train_images(10000)
    test_images: int = fields.test_images()
    seed: int = fields.seed()
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = set(self.variants) - set(VARIANTS)
        if unknown or not self.variants:
            raise UserError(f"variants must be among {', '.join(VARIANTS)}, got {self.variants}")
        if any(not 1 <= t <= self.timesteps for t in self.report_steps):
            raise UserError(
                f"report_steps must lie in 1..{self.timesteps}, got {list(self.report_steps)}"
            )
