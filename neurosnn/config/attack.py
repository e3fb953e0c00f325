"""The FGSM attack and the noise-sensitivity measurement of ``neurosnn attack``
(``neurosnn.jobs.adversarial``); without torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from neurosnn.config.fields import option
from neurosnn.errors import UserError


@dataclass(frozen=True)
class AttackConfig:
    """The attack and the noise-sensitivity measurement."""

    epsilon: float = option(
        8 / 255,
        help="FGSM's ε in pixel units, a number or a fraction such as 8/255, in [0, 1]",
        group="attack",
        metavar="EPS",
        default_text="8/255",
    )
    report_epsilons: tuple[float, ...] = option(
        (2 / 255, 4 / 255),
        help="further ε at which the ANN's and the baseline SNN's accuracy are reported (no "
        "search), repeated or separated by commas",
        group="attack",
        metavar="EPS",
        default_text="2/255,4/255",
    )
    ans_images: int = option(
        500,
        help="test images the adversarial noise sensitivity is averaged over",
        group="attack",
        metavar="N",
    )
    snn_attack_images: int = option(
        500,
        help="test images also attacked by FGSM through the SNN itself (surrogate gradients, "
        "BPTT over T; slow on a CPU); 0: none",
        group="attack",
        metavar="N",
    )

    def __post_init__(self) -> None:
        for name, values in (
            ("epsilon", (self.epsilon,)),
            ("report_epsilons", self.report_epsilons),
        ):
            for eps in values:
                if not (math.isfinite(eps) and 0 <= eps <= 1):
                    raise UserError(f"{name} must be in [0, 1] (pixel units), got {eps}")
        if self.ans_images < 1 or self.snn_attack_images < 0:
            raise UserError(
                f"ans_images must be >= 1 and snn_attack_images >= 0, got {self.ans_images} "
                f"and {self.snn_attack_images}"
            )
