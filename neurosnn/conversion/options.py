"""Where a conversion takes its thresholds from, without torch (the command line checks this
before it imports the converter): percentiles of the ANN's activations, the trained λ of
QCFS activations (Bu et al., ICLR 2022), or local threshold balancing (Bu, Li & Yu, CVPR
2025)."""

from __future__ import annotations

from typing import Literal

ThresholdSource = Literal["percentile", "trained", "balanced"]
THRESHOLD_SOURCES: tuple[str, ...] = ("percentile", "trained", "balanced")
# local threshold balancing learns on this many batches of 100 calibration images (the
# authors'; a recipe may ask for more where 12 clip too much)
BALANCE_ITERATIONS = 12
