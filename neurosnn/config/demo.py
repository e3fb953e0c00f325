"""What the demo (``neurosnn demo``, the main job end to end) runs; without torch."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError

UPDATES = 40_000  # image presentations of the default training (2 epochs of 20,000 images)


@dataclass(frozen=True)
class DemoConfig:
    """The demo's sizes: a VGG9 trained briefly, the search and the simulations."""

    data_root: str | None = fields.data_root(
        "Debian's dataset-fashion-mnist, else the subset shipped in data/"
    )
    epochs: int | None = fields.epochs(
        None,
        "as many as make 40,000 image presentations: 2 over 20,000 images of Debian's data "
        "set, 10 over the 4,000 of the shipped subset",
    )
    train_images: int = fields.train_images(20000)
    test_images: int = fields.test_images(1000)  # the figures of the demo are on 1,000
    timesteps: int = fields.timesteps(100)
    population: int = fields.population(6)
    generations: int = fields.generations(3)
    images: int = fields.images(200)
    seed: int = fields.seed()  # the ANN's training; the test images and search stay
    retrain: bool = option(
        False,
        help="train the ANN again where OUT/ann holds one (deprecated, goes in 0.4: a rerun "
        "into the same --out reuses its ANN; give another --out to start over)",
        group="training",
    )

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise UserError(f"epochs must be >= 1, got {self.epochs}")
        for name in ("train_images", "timesteps", "population", "generations", "images"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")

    def epochs_for(self, n_train: int) -> int:
        """Epochs that present about ``UPDATES`` images: the same training on any data size."""
        return self.epochs or max(1, round(UPDATES / n_train))
