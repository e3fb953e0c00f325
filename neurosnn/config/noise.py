"""How the noise of the search's cost is measured (``neurosnn.jobs.noise``,
``neurosnn cost-noise``); without torch."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config.fields import option
from neurosnn.errors import UserError


@dataclass(frozen=True)
class NoiseConfig:
    """How many subsets and candidates the spreads are measured over."""

    draws: int = option(8, help="random training subsets of E images", group="evaluation",
                        metavar="N")  # fmt: skip
    candidates: int = option(
        10,
        help="the candidates: the baseline and draws of the initial population",
        group="evaluation",
        metavar="N",
    )

    def __post_init__(self) -> None:
        if self.draws < 2 or self.candidates < 2:
            raise UserError(
                f"draws and candidates must be >= 2, got {self.draws} and {self.candidates}"
            )
