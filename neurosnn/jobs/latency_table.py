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


COLUMNS = (
    ("steps_to_ann_minus_1pct", "ANN−1%", "steps"),
    ("steps_to_ann_minus_1pct_delay_none", "ANN−1%, delay none", "steps"),
    ("steps_to_ann_minus_2pct", "ANN−2%", "steps"),
    ("steps_to_long_target", "long target", "steps"),
    ("accuracy_at_16", "t=16", "%"),
    ("accuracy_at_32", "t=32", "%"),
    ("accuracy_at_64", "t=64", "%"),
    ("accuracy_at_T", "t=T", "%"),
    ("spikes_per_image", "spikes/image", "n"),
)


def _cell(value, unit: str) -> str:
    if value is None:
        return "> T" if unit == "steps" else "–"
    if isinstance(value, dict):  # mean and range over checkpoints
        lo, hi = _cell(value["min"], unit), _cell(value["max"], unit)
        mean = _cell(value["mean"], unit)
        return mean if lo == hi else f"{mean} ({lo}–{hi})"
    if unit == "%":
        return f"{100 * value:.2f}"
    if unit == "n":
        return f"{value:,.0f}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def table(rows: dict[str, dict]) -> str:
    """A markdown table of recipes × figures."""
    head = "| recipe | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, m in rows.items():
        lines.append(
            f"| {name} | "
            + " | ".join(_cell(m[k], unit) if k in m else "–" for k, _, unit in COLUMNS)
            + " |"
        )
    return "\n".join(lines)
