"""Latency metrics of an accuracy-vs-timestep curve: the first step that reaches a target
accuracy, the latency–accuracy frontier, the comparison of two curves at equal accuracy or
equal time, and the figures the latency tables report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def iso_accuracy_step(accuracy: np.ndarray, target: float) -> int | None:
    """First timestep (1-based) at which the curve reaches ``target``; None if it never does."""
    hits = np.nonzero(np.asarray(accuracy) >= target - 1e-12)[0]
    return int(hits[0]) + 1 if len(hits) else None


@dataclass(frozen=True)
class LatencyComparison:
    """Iso-accuracy latency of an optimised curve against a baseline curve."""

    target: float
    baseline_step: int | None
    optimized_step: int | None

    @property
    def improvement(self) -> float | None:
        """``1 − t_opt / t_base`` (fraction); None when either never reaches the target."""
        if self.baseline_step is None or self.optimized_step is None:
            return None
        return 1.0 - self.optimized_step / self.baseline_step


def compare_latency(
    baseline: np.ndarray, optimized: np.ndarray, target: float | None = None
) -> LatencyComparison:
    """Steps each curve needs to reach ``target`` (default: the baseline's final accuracy)."""
    target = float(np.asarray(baseline)[-1]) if target is None else float(target)
    return LatencyComparison(
        target, iso_accuracy_step(baseline, target), iso_accuracy_step(optimized, target)
    )


def frontier(accuracy: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The latency–accuracy frontier of a curve: for each target accuracy, the first step
    (1-based) that reaches it, NaN where the curve never does."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    best = np.maximum.accumulate(accuracy)  # the first step at or above t is where this is
    targets = np.asarray(targets, dtype=np.float64)
    steps = np.searchsorted(best, targets - 1e-12, side="left") + 1.0
    steps[steps > len(accuracy)] = np.nan
    return steps


def latency_report(
    accuracy: np.ndarray,
    ann_accuracy: float,
    long_target: float | None = None,
    at: tuple[int, ...] = (16, 32, 64),
) -> dict[str, float | int | None]:
    """The latency figures of one curve: steps to ANN − 1% and ANN − 2% (and to
    ``long_target``, e.g. the baseline's accuracy at a long horizon), and the accuracy at the
    steps ``at`` that the curve covers and at its last step T."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    report: dict[str, float | int | None] = {
        "steps_to_ann_minus_1pct": iso_accuracy_step(accuracy, ann_accuracy - 0.01),
        "steps_to_ann_minus_2pct": iso_accuracy_step(accuracy, ann_accuracy - 0.02),
    }
    if long_target is not None:
        report["steps_to_long_target"] = iso_accuracy_step(accuracy, long_target)
    for t in at:
        if t <= len(accuracy):
            report[f"accuracy_at_{t}"] = float(accuracy[t - 1])
    report["accuracy_at_T"] = float(accuracy[-1])
    return report


def iso_time_gain(baseline: np.ndarray, optimized: np.ndarray, step: int) -> float:
    """Accuracy gained at timestep ``step`` (1-based): ``Acc_opt[t] − Acc_base[t]``."""
    if not 1 <= step <= len(baseline):
        raise ValueError(f"step must be in 1..{len(baseline)}, got {step}")
    return float(np.asarray(optimized)[step - 1] - np.asarray(baseline)[step - 1])
