"""What the comparison of the threshold search with BPTT fine-tuning depends on
(``neurosnn.jobs.bptt``, ``neurosnn bptt``), and BPTT fine-tuning's hyper-parameters
(``neurosnn.learn.surrogate.finetune``); without torch."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.config.search import PRESETS, PresetName
from neurosnn.errors import UserError


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of BPTT fine-tuning (T = 70 in the paper)."""

    epochs: int = option(
        1, help="epochs of BPTT fine-tuning", group="training", metavar="N", name="bptt-epochs"
    )
    batch_size: int = option(
        32, help="images per BPTT step", group="training", metavar="N", name="bptt-batch-size"
    )
    lr: float = option(1e-4, help="BPTT's Adam learning rate", group="training", metavar="LR",
                       name="bptt-lr")  # fmt: skip
    timesteps: int = option(
        70, help="T of BPTT's unrolling (the paper: 70)", group="training", metavar="T",
        name="bptt-timesteps",
    )  # fmt: skip
    max_batches: int | None = option(
        None, help="batches per BPTT epoch", group="training", metavar="N",
        name="bptt-batches", default_text="the whole training set",
    )  # fmt: skip
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.timesteps < 1:
            raise UserError("epochs, batch_size and timesteps must be >= 1")
        if not self.lr > 0:
            raise UserError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class BPTTConfig:
    """Everything the comparison depends on (saved in its records)."""

    checkpoint: str = ""  # where the network came from (the command's --checkpoint)
    search: str | None = fields.search_folder()  # its tuned SNN joins Fig. 4
    preset: PresetName = fields.preset("fashion-mnist")  # its E, G, P enter Eq. 19
    timesteps: int = fields.timesteps(120)
    test_images: int = fields.test_images()
    finetune: FinetuneConfig = option(
        FinetuneConfig(),
        help="BPTT fine-tuning",
        group="training",
        expose=("epochs", "batch_size", "lr", "timesteps", "max_batches"),
    )
    cost_timesteps: tuple[int, ...] = option(
        (5, 25, 50, 75),
        help="the T values of the cost table (Fig. 5), repeated or separated by commas",
        group="evaluation",
        metavar="T",
    )
    cost_batch: int = option(
        32, help="the batch of the cost table (Fig. 5)", group="evaluation", metavar="N"
    )
    repeats: int = fields.repeats(5)  # the mean is kept
    data_root: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise UserError(
                f"preset must be one of {', '.join(sorted(PRESETS))}, got {self.preset!r}"
            )
        for name in ("timesteps", "cost_batch", "repeats"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.test_images < 0:
            raise UserError(f"test_images must be >= 0 (0: all), got {self.test_images}")
        if not self.cost_timesteps or min(self.cost_timesteps) < 1:
            raise UserError(f"cost_timesteps must be positive, got {list(self.cost_timesteps)}")
