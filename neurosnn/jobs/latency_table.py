"""The latency job's figures: each recipe's, one checkpoint's, and across checkpoints (seeds)
the mean, min and max of every figure of every recipe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class RecipeResult:
    """One recipe's test-set figures (``neurosnn.simulation.curve.latency_report`` and more)."""

    recipe: str
    metrics: dict[str, Any]
    thresholds: list[float]
    phi: list[float]
    path: Path


@dataclass
class LatencyResult:
    ann_accuracy: float
    depth: int  # connections on the longest path input → output: the steps the delay adds
    long_target: float | None
    results: list[RecipeResult] = field(default_factory=list)
    zero_fractions: dict[str, float] = field(default_factory=dict)  # of each layer's outputs


def aggregate(reports: Sequence[LatencyResult]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean, min and max over reports (seeds) of every numeric figure of every recipe; a step
    count that some report never reached makes that figure's entry ``None``."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    names = [r.recipe for r in reports[0].results]
    for name in names:
        rows = [next(r.metrics for r in rep.results if r.recipe == name) for rep in reports]
        table[name] = {}
        for key in rows[0]:
            values = [row.get(key) for row in rows]
            if any(v is None for v in values):
                table[name][key] = None
            else:
                v = np.asarray(values, dtype=np.float64)
                table[name][key] = {
                    "mean": float(v.mean()),
                    "min": float(v.min()),
                    "max": float(v.max()),
                }
    return table
