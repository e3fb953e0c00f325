"""What the explicitly trained spiking sparsity experiment depends on (Allred et al.;
``neurosnn.jobs.sparsity``, ``neurosnn sparsity``); without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError

# σ's schedule over the epochs (Allred et al., Eq. 4–8)
Schedule = Literal["constant", "linear", "quadratic", "alternating", "alternating-linear"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)


@dataclass(frozen=True)
class SparsityConfig:
    """The schedules, the σ₀ grid and the training of every network."""

    schedules: tuple[Schedule, ...] = option(
        SCHEDULES,
        help="σ's schedules over the epochs (Eq. 4–8), repeated or separated by commas",
        group="training",
        metavar="SCHEDULE",
    )
    sigmas: tuple[float, ...] = option(
        (1e-5, 3e-5, 1e-4, 3e-4),
        help="the σ₀ grid, repeated or separated by commas",
        group="training",
        metavar="SIGMA",
    )
    tolerance: float = option(
        0.01,
        help="the validation accuracy a σ₀ may lose against cross-entropy alone",
        group="evaluation",
        metavar="ACC",
    )
    options: dict[str, Any] = fields.net_options({}, "LeNet's defaults")
    timesteps: int = fields.timesteps(10)
    leak: float = fields.leak()
    epochs: int = fields.epochs(3)
    lr: float = fields.lr(1e-3)
    train_images: int = fields.train_images(10000)  # 20% of them are held out for validation
    test_images: int = fields.test_images()
    seed: int = fields.seed()
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = set(self.schedules) - set(SCHEDULES)
        if unknown or not self.schedules:
            raise UserError(f"schedules must be among {', '.join(SCHEDULES)}, got {self.schedules}")
        if not self.sigmas:
            raise UserError("sigmas must hold at least one σ₀")
