"""Cost functions of the threshold search (the latency metrics of an accuracy curve are
``neurosnn.simulation.curve``).

Lu & Sengupta, Eq. 11: ``cost = α·J + β·(1 − max ∇Acc) + γ·(1 − Acc[T])``, where ``∇Acc`` is
the time-gradient of the accuracy curve (central differences, one-sided at the ends, as
``numpy.gradient``; Algorithm 1 line 3), ``J = argmax_t ∇Acc(t)`` in timesteps (1-based) and
``Acc[T]`` the accuracy at the last step. A cost is any callable of the curve and the
per-layer spike counts, so terms such as a spike (energy) penalty can be added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from neurosnn.config.search import SearchConfig
from neurosnn.simulation.curve import iso_accuracy_step

# (accuracy [T], spike counts per layer [T]) -> cost
CostFn = Callable[[np.ndarray, Mapping[str, np.ndarray]], float]


def accuracy_gradient(accuracy: np.ndarray) -> np.ndarray:
    """``∇Acc(t)`` per timestep (central differences; one-sided at both ends)."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    if accuracy.size < 2:
        raise ValueError("the accuracy curve needs at least 2 timesteps")
    return np.gradient(accuracy)


@dataclass(frozen=True)
class LatencyAccuracyCost:
    """Eq. 11 of Lu & Sengupta with weights α, β, γ (Table I)."""

    alpha: float
    beta: float
    gamma: float

    def terms(self, accuracy: np.ndarray) -> tuple[int, float, float]:
        """``(J, max ∇Acc, Acc[T])``."""
        grad = accuracy_gradient(accuracy)
        j = int(np.argmax(grad))
        return j + 1, float(grad[j]), float(np.asarray(accuracy)[-1])

    def __call__(
        self, accuracy: np.ndarray, spike_counts: Mapping[str, np.ndarray] | None = None
    ) -> float:
        j, max_grad, final = self.terms(accuracy)
        return self.alpha * j + self.beta * (1.0 - max_grad) + self.gamma * (1.0 - final)


@dataclass(frozen=True)
class StepsToTargetCost:
    """The steps a curve needs to reach ``target`` (1-based): the latency itself, beside Eq. 11.

    A curve that never reaches the target costs ``T + 1`` plus the accuracy points it is short
    at T, so candidates that miss it are still ranked, and always behind those that reach it.
    """

    target: float

    def __call__(
        self, accuracy: np.ndarray, spike_counts: Mapping[str, np.ndarray] | None = None
    ) -> float:
        accuracy = np.asarray(accuracy, dtype=np.float64)
        step = iso_accuracy_step(accuracy, self.target)
        if step is not None:
            return float(step)
        return len(accuracy) + 1 + 100.0 * (self.target - float(accuracy[-1]))


@dataclass(frozen=True)
class AccuracyDeficitCost:
    """``Σ_t max(0, target − Acc[t])``: the accuracy a curve still lacks, summed over the
    steps (in step × accuracy units). A curve that reaches the target at step k and stays
    there pays for its rise only; unlike the step count it changes with every image a
    candidate gets right sooner, so DE sees a slope where the steps have plateaus."""

    target: float

    def __call__(
        self, accuracy: np.ndarray, spike_counts: Mapping[str, np.ndarray] | None = None
    ) -> float:
        deficit = self.target - np.asarray(accuracy, dtype=np.float64)
        return float(np.clip(deficit, 0.0, None).sum())


@dataclass(frozen=True)
class SpikePenalty:
    """Adds ``weight × spikes per image per step`` to another cost (an energy term)."""

    base: CostFn
    weight: float
    n_images: int

    def __call__(self, accuracy: np.ndarray, spike_counts: Mapping[str, np.ndarray]) -> float:
        total = sum(float(np.sum(c)) for c in spike_counts.values())
        per_step = total / (self.n_images * len(accuracy))
        return self.base(accuracy, spike_counts) + self.weight * per_step


def training_cost(images: int, generations: float, population: int, train_size: int) -> float:
    """Eq. 17: ``E·G·P / D_train``, the search's overhead in passes over the training set."""
    return images * generations * population / train_size


def objective(cfg: SearchConfig, ann_accuracy: float | None = None) -> CostFn:
    """The search's cost as ``cfg.objective`` names it: Eq. 11 with its α, β, γ, or the steps
    to (or the accuracy deficit below) the ANN's accuracy on the search images minus
    ``cfg.target_drop`` (these need ``ann_accuracy``)."""
    if cfg.objective == "eq11":
        return LatencyAccuracyCost(cfg.alpha, cfg.beta, cfg.gamma)
    if ann_accuracy is None:
        raise ValueError(f"objective {cfg.objective!r} needs the ANN's accuracy (ann_accuracy)")
    target = ann_accuracy - cfg.target_drop
    if cfg.objective == "deficit":
        return AccuracyDeficitCost(target)
    return StepsToTargetCost(target)
