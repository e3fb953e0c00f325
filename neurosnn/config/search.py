"""The threshold search's hyper-parameters (Lu & Sengupta, Table I) and the SNN it runs, and
the presets of the paper's rows; without torch (the command line reads them before it imports
the simulator)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from neurosnn._moved import deprecated
from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError
from neurosnn.simulation.options import BIAS_ONSETS, DELAYS, BiasOnset, Delay, check_presim
from neurosnn.snn.options import PERCENTILE_OF, PercentileOf, check_phi

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

    alpha: float = option(
        1.0,
        help="α, the weight of J, the step of the steepest accuracy rise (Eq. 11)",
        group="search",
        metavar="A",
    )
    beta: float = option(
        10.0,
        help="β, the weight of 1 − the largest accuracy gradient (Eq. 11)",
        group="search",
        metavar="B",
    )
    gamma: float = option(
        500.0, help="γ, the weight of 1 − the accuracy at T (Eq. 11)", group="search", metavar="G"
    )
    initial_percentile: float = option(
        99.7,
        help="TH, the percentile the population is drawn around (the baseline's)",
        group="search",
        metavar="P",
    )
    std: float = option(
        0.15, help="std of the initial population around TH", group="search", metavar="S"
    )
    population: int = fields.population(25)
    generations: int = fields.generations(30)
    images: int = fields.images(3000)
    timesteps: int = fields.timesteps(200)
    parameterisation: Parameterisation = option(
        "percentile",
        help="search each layer's percentile (the paper) or a scale of its baseline threshold",
        group="search",
    )
    lower: float | None = option(
        None,
        help="lower bound of a threshold",
        group="search",
        metavar="X",
        default_text="TH − 10·std, or 0.5 for scales",
    )
    upper: float | None = option(
        None,
        help="upper bound of a threshold",
        group="search",
        metavar="X",
        default_text="100, or 1.5 for scales",
    )
    mutation: tuple[float, float] = (0.5, 1.5)
    crossover: float = 0.7
    tol: float = option(
        0.01,
        help="SciPy's relative convergence tolerance (0: run every generation)",
        group="search",
        metavar="TOL",
    )
    delay: Delay = fields.delay()
    batch_size: int = fields.batch_size()
    seed: int = fields.seed()
    subset: Subset = option(
        "fixed",
        help="score every candidate on one mini-dataset S drawn before the first generation "
        "(fixed, Algorithm 1) or on images drawn for each candidate",
        group="search",
    )
    percentile_of: PercentileOf = fields.percentile_of()
    channelwise: bool = fields.channelwise()
    phi: float = fields.phi()
    bias_onset: BiasOnset = fields.bias_onset()
    search_phi: bool = option(
        False, help="search each layer's φ beside its threshold", group="search"
    )
    phi_std: float = option(
        0.15, help="std of the initial φ around --phi", group="search", metavar="S"
    )
    objective: Objective = option(
        "eq11",
        help="the cost: Eq. 11 (α, β, γ), the steps to the ANN's accuracy on the search "
        "images minus --target-drop, or the accuracy deficit below that target summed over "
        "the steps",
        group="search",
    )
    target_drop: float = option(
        0.01,
        help="how far below the ANN the steps-to-target and deficit costs' target lies",
        group="search",
        metavar="D",
    )
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

    @deprecated("neurosnn.search.cost.objective(cfg, ann_accuracy)")
    def cost(self, ann_accuracy: float | None = None) -> Any:
        """The objective; ``steps-to-target`` needs the ANN's accuracy on the search images."""
        from neurosnn.search.cost import objective

        return objective(self, ann_accuracy)


@dataclass(frozen=True)
class EvalConfig:
    """How the search's result is evaluated (test set, PCA) and where it runs."""

    checkpoint: str = ""  # where the network came from (the command's --checkpoint or --weights)
    test_images: int = fields.test_images()
    timesteps: int | None = option(
        None,
        help="T of the test-set comparison of the baseline and the searched SNN",
        group="evaluation",
        metavar="T",
        name="eval-timesteps",
        default_text="the search's --timesteps",
    )
    target_accuracy: float | None = option(
        None,
        help="also report the latency improvement at this accuracy, in (0, 1]",
        group="evaluation",
        metavar="ACC",
    )
    iso_time: int | None = option(
        None,
        help="the step of the iso-time accuracy comparison",
        group="evaluation",
        metavar="STEP",
        default_text="T/2",
    )
    calib_images: int = fields.calib_images()
    pca_images: int = option(
        256,
        help="test images the PCA layer significance is measured on",
        group="evaluation",
        metavar="N",
    )
    workers: int = option(
        1, help="processes that score candidates in parallel", group="hardware", metavar="N"
    )
    ray_address: str | None = fields.ray()
    gpus_per_task: float = fields.gpus_per_task()
    record_spikes: int = option(
        8, help="store the spike trains of this many images", group="output", metavar="N"
    )
    data_root: str | None = None
    device: str = "cpu"
    long_horizon: int = fields.long_horizon()

    def __post_init__(self) -> None:
        for name, least in (
            ("test_images", 0),
            ("timesteps", 2),
            ("iso_time", 1),
            ("calib_images", 1),
            ("pca_images", 1),
            ("workers", 1),
            ("record_spikes", 0),
            ("long_horizon", 1),
        ):
            value = getattr(self, name)
            if value is not None and value < least:
                raise UserError(f"{name} must be >= {least}, got {value}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise UserError(f"target_accuracy must be in (0, 1], got {self.target_accuracy}")
        if self.gpus_per_task < 0 or (self.gpus_per_task and self.ray_address is None):
            raise UserError(
                f"gpus_per_task: a share of GPUs >= 0 with --ray, found {self.gpus_per_task}"
            )


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
    # baseline's rise to within 1% of the ANN (step 117, docs/results.md). E = 1,000: with 500
    # images the accuracy noise of a candidate (±1.1 points = ±5.5 cost units) outweighed the
    # latency terms; a generation takes about 3 minutes on 2 CPU cores.
    "fashion-mnist": SearchConfig(1, 10, 500, 99.7, 0.15, 10, 8, 1000, 120),
    # FGSM Fashion-MNIST: the adversarial weights and spread of Table I (α, β, γ, std), P, G and
    # E sized for 2 CPU cores (about ten minutes)
    "adversarial-fashion-mnist": SearchConfig(1, 2, 60, 99.7, 0.25, 10, 6, 500, 100),
    # the README's main job: about two minutes on 2 cores; T = 100 as in its conversion step
    "quick": SearchConfig(1, 10, 500, 99.7, 0.15, 6, 3, 200, 100),
}
PresetName = Literal[
    "cifar10",
    "cifar100-vgg15",
    "cifar100-vgg11",
    "imagenet",
    "adversarial-cifar10",
    "adversarial-cifar100",
    "fashion-mnist",
    "adversarial-fashion-mnist",
    "quick",
]


@dataclass(frozen=True)
class Preset:
    """The row of Table I (or neurosnn's sizes for 2 CPU cores) a search starts from; each
    search option given replaces one of its values."""

    preset: PresetName = fields.preset("fashion-mnist")

    def config(self) -> SearchConfig:
        return PRESETS[self.preset]
