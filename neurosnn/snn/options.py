"""What a converted SNN's thresholds and potentials may be set to, without torch (the command
line checks these values before it imports the simulator)."""

from __future__ import annotations

import math
from typing import Literal

from neurosnn.errors import UserError

# the percentile of a layer's ANN outputs a threshold sits at, taken over all of them, zeros
# included (the authors' code), or over the positive ones (Rueckauer et al.)
PercentileOf = Literal["all", "positive"]
PERCENTILE_OF: tuple[str, ...] = ("all", "positive")


def check_phi(value: float, what: str = "phi") -> float:
    """φ must lie in [0, 1): at φ ≥ 1 a neuron would fire before any input arrives."""
    if not (math.isfinite(value) and 0 <= value < 1):
        raise UserError(f"{what} must be in [0, 1), got {value}")
    return value
