"""The threshold search's hyper-parameters (Lu & Sengupta, Table I) and the SNN it runs, and
the presets of the paper's rows; without torch (the command line reads them before it imports
the simulator)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from neurosnn.errors import UserError
from neurosnn.simulation.options import BIAS_ONSETS, DELAYS, check_presim
from neurosnn.snn.options import PERCENTILE_OF, check_phi

if TYPE_CHECKING:
    from neurosnn.search.cost import CostFn

Parameterisation = Literal["percentile", "scale"]
Subset = Literal["fixed", "per-candidate"]
SUBSETS: tuple[str, ...] = ("fixed", "per-candidate")
Objective = Literal["eq11", "steps-to-target", "deficit"]
OBJECTIVES: tuple[str, ...] = ("eq11", "steps-to-target", "deficit")
PHI_UPPER = 0.95  # upper bound of a searched φ (φ must stay below 1)


@dataclass(frozen=True)
class SearchConfig:
    """Hyper-parameters of the threshold search (Table I of Lu & Sengupta) and the SNN it runs.

    ``images`` is E, the training images per evaluation; ``generations`` is the most the
    search runs (it stops earlier when SciPy's convergence test ``tol`` is met). The SNN:
    ``percentile_of``, ``channelwise`` and ``phi`` are its conversion
    (``neurosnn.conversion.convert``), ``delay`` and ``bias_onset`` its timing
    (``neurosnn.simulation.run.simulate``). ``objective`` picks the cost: Eq. 11 with α, β, γ,
    the steps to ``ANN accuracy on the search images − target_drop``
    (``neurosnn.search.cost.StepsToTargetCost``), or the accuracy deficit below that target
    summed over the steps (``neurosnn.search.cost.AccuracyDeficitCost``). ``readout_delays`` K > 0
    scores each candidate with the delayed evaluation that will read it (Bu, Li & Yu, CVPR
    2025; ``neurosnn.simulation.delayed``): its cost is the least over readout delays k = 0 … K of
    the cost of its curve read after k steps (each curve counting its k steps), so the search
    looks for the (θ, φ) whose best k reaches the target soonest instead of leaving k to be
    chosen after it. ``presim`` τ > 0 runs each candidate with SRP (``neurosnn.simulation.srp``),
    its τ steps counted in the curve.
    """

    alpha: float = 1.0
    beta: float = 10.0
    gamma: float = 500.0
    initial_percentile: float = 99.7
    std: float = 0.15
    population: int = 25
    generations: int = 30
    images: int = 3000
    timesteps: int = 200
    parameterisation: Parameterisation = "percentile"
    lower: float | None = None  # default: TH − 10·std (percentile) or 0.5 (scale)
    upper: float | None = None  # default: 100 (percentile) or 1.5 (scale)
    mutation: tuple[float, float] = (0.5, 1.5)
    crossover: float = 0.7
    tol: float = 0.01
    delay: Literal["layer", "none"] = "layer"
    batch_size: int = 256
    seed: int = 0
    subset: Subset = "fixed"
    percentile_of: Literal["all", "positive"] = "all"
    channelwise: bool = False
    phi: float = 0.0
    bias_onset: Literal["always", "input"] = "always"
    search_phi: bool = False
    phi_std: float = 0.15
    objective: Objective = "eq11"
    target_drop: float = 0.01
    readout_delays: int = 0
    presim: int = 0  # SRP's τ pre-simulation steps (neurosnn.simulation.srp), counted in each curve

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma", "std", "initial_percentile", "crossover", "tol"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise UserError(f"{name} must be a finite number >= 0, got {value}")
        if not all(math.isfinite(m) and m >= 0 for m in self.mutation):
            raise UserError(f"mutation must be finite numbers >= 0, got {self.mutation}")
        for name in ("lower", "upper"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise UserError(f"{name} must be finite, got {value}")
        if self.population < 5:
            raise UserError(f"population must be >= 5 (SciPy's minimum), got {self.population}")
        if self.generations < 1 or self.images < 1 or self.timesteps < 2:
            raise UserError("generations and images must be >= 1 and timesteps >= 2")
        if self.parameterisation not in ("percentile", "scale"):
            raise UserError(
                f"parameterisation must be 'percentile' or 'scale', got {self.parameterisation!r}"
            )
        if not 0 < self.initial_percentile <= 100:
            raise UserError(
                f"initial_percentile must be in (0, 100], got {self.initial_percentile}"
            )
        lo, hi = self.bounds
        if not lo < hi:
            raise UserError(f"bounds must satisfy lower < upper, got ({lo}, {hi})")
        if self.parameterisation == "percentile" and not (0 < lo and hi <= 100):
            raise UserError(f"percentile bounds must lie in (0, 100], got ({lo}, {hi})")
        for name, value, allowed in (
            ("subset", self.subset, SUBSETS),
            ("percentile_of", self.percentile_of, PERCENTILE_OF),
            ("delay", self.delay, DELAYS),
            ("bias_onset", self.bias_onset, BIAS_ONSETS),
            ("objective", self.objective, OBJECTIVES),
        ):
            if value not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {value!r}")
        check_phi(self.phi)
        if not 0 <= self.target_drop < 1:
            raise UserError(f"target_drop must be in [0, 1), got {self.target_drop}")
        if not self.phi_std >= 0:
            raise UserError(f"phi_std must be >= 0, got {self.phi_std}")
        if not 0 <= self.readout_delays < self.timesteps:
            raise UserError(
                f"readout_delays must be in [0, timesteps) = [0, {self.timesteps}), "
                f"got {self.readout_delays}"
            )
        check_presim(self.presim, self.timesteps)

    @property
    def bounds(self) -> tuple[float, float]:
        """Bounds of a threshold dimension."""
        if self.parameterisation == "percentile":
            lo = self.initial_percentile - 10 * self.std if self.lower is None else self.lower
            return lo, 100.0 if self.upper is None else self.upper
        return (
            0.5 if self.lower is None else self.lower,
            1.5 if self.upper is None else self.upper,
        )

    def dimension_bounds(self, n_layers: int) -> list[tuple[float, float]]:
        """Bounds of every searched value: the thresholds, then (``search_phi``) each φ."""
        return [self.bounds] * n_layers + [(0.0, PHI_UPPER)] * (n_layers * self.search_phi)

    @property
    def center(self) -> float:
        return self.initial_percentile if self.parameterisation == "percentile" else 1.0

    def cost(self, ann_accuracy: float | None = None) -> CostFn:
        """The objective; ``steps-to-target`` needs the ANN's accuracy on the search images."""
        from neurosnn.search.cost import (
            AccuracyDeficitCost,
            LatencyAccuracyCost,
            StepsToTargetCost,
        )

        if self.objective == "eq11":
            return LatencyAccuracyCost(self.alpha, self.beta, self.gamma)
        if ann_accuracy is None:
            raise ValueError(
                f"objective {self.objective!r} needs the ANN's accuracy (ann_accuracy)"
            )
        target = ann_accuracy - self.target_drop
        if self.objective == "deficit":
            return AccuracyDeficitCost(target)
        return StepsToTargetCost(target)


# Table I of Lu & Sengupta. E follows from Eq. 17 and the table's training cost
# (CIFAR: 38.85 = E·25.9·25/50,000 → E = 3,000; ImageNet: E = 5,000; adversarial: E = 1,200);
# G is the table's mean generation count rounded up. T is not in the table: 200.
PRESETS: dict[str, SearchConfig] = {
    "cifar10": SearchConfig(1, 10, 500, 99.7, 0.15, 25, 26, 3000),
    "cifar100-vgg15": SearchConfig(1, 40, 20, 99.7, 0.15, 25, 27, 3000),
    "cifar100-vgg11": SearchConfig(0.7, 60, 200, 99.7, 0.13, 35, 8, 3000),
    "imagenet": SearchConfig(1, 70, 110, 99.8, 0.13, 20, 7, 5000),
    "adversarial-cifar10": SearchConfig(1, 2, 60, 99.7, 0.25, 25, 22, 1200),
    "adversarial-cifar100": SearchConfig(1, 2, 60, 99.7, 0.25, 25, 25, 1200),
    # Fashion-MNIST VGG9: the CIFAR-10 weights (accuracy counts most); T = 120 covers the
    # baseline's rise to within 1% of the ANN (step 122, README). E = 1,000: with 500 images
    # the accuracy noise of a candidate (±1.1 points = ±5.5 cost units) outweighed the latency
    # terms (README); a generation takes about 3 minutes on 2 CPU cores.
    "fashion-mnist": SearchConfig(1, 10, 500, 99.7, 0.15, 10, 8, 1000, 120),
    # FGSM Fashion-MNIST: the adversarial weights and spread of Table I (α, β, γ, std), P, G and
    # E sized for 2 CPU cores (about ten minutes)
    "adversarial-fashion-mnist": SearchConfig(1, 2, 60, 99.7, 0.25, 10, 6, 500, 100),
    # the README's main job: about two minutes on 2 cores; T = 100 as in its conversion step
    "quick": SearchConfig(1, 10, 500, 99.7, 0.15, 6, 3, 200, 100),
}
