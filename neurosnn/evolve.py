"""Differential-evolution search of per-layer thresholds (Lu & Sengupta, Algorithm 1).

One threshold per IF layer, searched as a percentile of the layer's ANN activations (the
paper's parameterisation) or as a multiplicative scale of the baseline threshold; optionally
also each layer's initial potential φ (``search_phi``: the membrane-potential extension the
paper names). The initial population is drawn from N(TH, std²) (and N(φ, φ_std²)) and clipped
to the bounds; SciPy's DE then runs with mutation dithered in [0.5, 1.5], crossover 0.7, no
polishing and deferred updating (the same schedule for serial, process-pool and Ray
evaluation). Each candidate is scored with a cost (Eq. 11 by default, or the steps to a target
accuracy) on E training images:

* ``subset="fixed"`` (default, Algorithm 1): one mini-dataset S drawn once, before the first
  generation, for every candidate — DE compares a trial with its parent on the same images;
* ``subset="per-candidate"``: a fresh subset for every candidate, its seed derived from the
  candidate's values (the same wherever and in whatever order candidates are evaluated).

After every generation the solver's state (population, costs, random generator) is written,
so an interrupted search resumes from its last finished generation and ends exactly where an
uninterrupted one would.

Evaluation: serially, in a process pool, on Ray, or vectorised — a whole generation as one
grouped simulation with per-sample thresholds (``vectorised_map``). All four give the same
costs: a candidate's curve does not depend on what shares its batches.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from scipy.optimize._differentialevolution import DifferentialEvolutionSolver
from tqdm.auto import tqdm

from neurosnn.cost import (
    AccuracyDeficitCost,
    CostFn,
    LatencyAccuracyCost,
    StepsToTargetCost,
    training_cost,
)
from neurosnn.data import Split
from neurosnn.engine import BIAS_ONSETS, DELAYS
from neurosnn.errors import UserError
from neurosnn.output import (
    ResumeMismatch,
    as_saved,
    atomic,
    changed_settings,
    with_defaults,
)
from neurosnn.simulate import simulate_groups
from neurosnn.snn import PERCENTILE_OF, ConvertedSNN, check_phi
from neurosnn.srp import check_presim
from neurosnn.tf32 import Switches, set_tf32, tf32_switches

Parameterisation = Literal["percentile", "scale"]
Subset = Literal["fixed", "per-candidate"]
SUBSETS: tuple[str, ...] = ("fixed", "per-candidate")
Objective = Literal["eq11", "steps-to-target", "deficit"]
OBJECTIVES: tuple[str, ...] = ("eq11", "steps-to-target", "deficit")
PHI_UPPER = 0.95  # upper bound of a searched φ (φ must stay below 1)
MapFn = Callable[[Callable[[np.ndarray], float], Iterable[np.ndarray]], Iterable[float]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchConfig:
    """Hyper-parameters of the threshold search (Table I of Lu & Sengupta) and the SNN it runs.

    ``images`` is E, the training images per evaluation; ``generations`` is the most the
    search runs (it stops earlier when SciPy's convergence test ``tol`` is met). The SNN:
    ``percentile_of``, ``channelwise`` and ``phi`` are its conversion
    (``neurosnn.convert.convert``), ``delay`` and ``bias_onset`` its timing
    (``neurosnn.simulate.simulate``). ``objective`` picks the cost: Eq. 11 with α, β, γ,
    the steps to ``ANN accuracy on the search images − target_drop``
    (``neurosnn.cost.StepsToTargetCost``), or the accuracy deficit below that target
    summed over the steps (``neurosnn.cost.AccuracyDeficitCost``). ``readout_delays`` K > 0
    scores each candidate with the delayed evaluation that will read it (Bu, Li & Yu, CVPR
    2025; ``neurosnn.delayed``): its cost is the least over readout delays k = 0 … K of the
    cost of its curve read after k steps (each curve counting its k steps), so the search
    looks for the (θ, φ) whose best k reaches the target soonest instead of leaving k to be
    chosen after it. ``presim`` τ > 0 runs each candidate with SRP (``neurosnn.srp``), its τ
    steps counted in the curve.
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
    presim: int = 0  # SRP's τ pre-simulation steps (neurosnn.srp), counted in each curve

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


def apply_candidate(
    snn: ConvertedSNN,
    x: np.ndarray,
    parameterisation: Parameterisation,
    base_thresholds: list[float],
    phi: float | None = None,
) -> None:
    """Set the SNN's thresholds (and φ) from a candidate vector: its first values are the
    thresholds; where it holds twice as many values as layers, the rest are φ, else ``phi``
    (if given) is every layer's."""
    n = len(snn.if_names)
    x = np.asarray(x, dtype=np.float64)
    if parameterisation == "percentile":
        snn.set_percentiles([float(v) for v in x[:n]])
    else:
        snn.set_thresholds(candidate_thresholds(snn, x[:n], parameterisation, base_thresholds))
    if len(x) == 2 * n:
        snn.set_phi([float(v) for v in x[n:]])
    elif phi is not None:
        snn.set_phi(phi)


def candidate_seed(x: np.ndarray, seed: int) -> int:
    """Seed of the training subset a candidate is scored on: a function of its values."""
    return zlib.crc32(np.ascontiguousarray(x, dtype=np.float64).tobytes()) ^ (seed & 0xFFFFFFFF)


def candidate_thresholds(
    snn: ConvertedSNN,
    x: np.ndarray,
    parameterisation: Parameterisation,
    base_thresholds: list[float],
) -> list[float]:
    """Threshold values a candidate's (first) values stand for (the SNN is not changed)."""
    x = np.asarray(x, dtype=np.float64)[: len(snn.if_names)]
    if parameterisation == "percentile":
        return snn.percentile_thresholds([float(p) for p in x])
    return [b * float(s) for b, s in zip(base_thresholds, x, strict=True)]


def grouped_batches(
    splits: Sequence[Split], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(images, labels, group)`` batches of ``batch_size`` over the splits in order; a batch
    may span several splits (group k: the images of ``splits[k]``)."""
    pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    size = 0
    for k, split in enumerate(splits):
        for x, y in split.batches(batch_size):
            pending.append((x, y, torch.full((len(y),), k, dtype=torch.int64)))
            size += len(y)
            while size >= batch_size:
                xs, ys, gs = (torch.cat(parts) for parts in zip(*pending, strict=True))
                yield xs[:batch_size], ys[:batch_size], gs[:batch_size]
                pending = [(xs[batch_size:], ys[batch_size:], gs[batch_size:])]
                size -= batch_size
    if size:
        yield tuple(torch.cat(parts) for parts in zip(*pending, strict=True))


def search_images(train: Split, cfg: SearchConfig) -> Split | None:
    """The fixed mini-dataset S of ``subset="fixed"`` (None when every candidate draws its own):
    E images of ``train`` drawn once with the search's seed (Algorithm 1, before the
    generations)."""
    if cfg.subset != "fixed":
        return None
    return train.random_subset(min(cfg.images, len(train)), cfg.seed)


class Evaluator:
    """Scores candidates: each candidate's thresholds (and φ) on E training images — the fixed
    mini-dataset S, or a subset drawn for the candidate — then the cost. Any number of
    candidates run as one grouped simulation (``neurosnn.simulate.simulate_groups``); the
    result for a candidate does not depend on which others share its batches.

    Args:
        snn: the converted SNN (converted with ``cfg.percentile_of`` and ``cfg.channelwise``).
        train: the split the images are drawn from.
        cfg: the search's configuration.
        cost: the cost (default: ``cfg.cost(ann_accuracy)``).
        ann_accuracy: the ANN's accuracy on the search images (the target of
            ``objective="steps-to-target"``).
        base_thresholds: the thresholds a ``scale`` candidate multiplies (default: each
            layer's ``initial_percentile``; e.g. the trained λ of a QCFS network).
    """

    def __init__(
        self,
        snn: ConvertedSNN,
        train: Split,
        cfg: SearchConfig,
        cost: CostFn | None = None,
        ann_accuracy: float | None = None,
        base_thresholds: Sequence[float] | None = None,
    ) -> None:
        if snn.percentile_of != cfg.percentile_of:
            raise ValueError(
                f"percentile_of: the SNN takes percentiles over {snn.percentile_of!r} outputs, "
                f"the search config over {cfg.percentile_of!r}"
            )
        if bool(snn.channel_scales) != cfg.channelwise:
            raise ValueError(
                f"channelwise: the SNN has "
                f"{'channel-wise' if snn.channel_scales else 'layer-wise'} thresholds, the "
                f"search config asks for channelwise={cfg.channelwise}"
            )
        self.snn, self.train, self.cfg = snn, train, cfg
        self.progress = False  # a generation's own progress (run_search sets it)
        self.cost = cost if cost is not None else cfg.cost(ann_accuracy)
        if base_thresholds is not None and cfg.parameterisation != "scale":
            raise ValueError("base_thresholds: only a 'scale' search multiplies given thresholds")
        self.base_thresholds = (
            [float(t) for t in base_thresholds]
            if base_thresholds is not None
            else snn.percentile_thresholds(cfg.initial_percentile)
        )
        self.n_images = min(cfg.images, len(train))
        self.fixed = search_images(train, cfg)

    def images_for(self, x: np.ndarray) -> Split:
        """The images candidate ``x`` is scored on."""
        if self.fixed is not None:
            return self.fixed
        return self.train.random_subset(self.n_images, candidate_seed(x, self.cfg.seed))

    def phi_of(self, x: np.ndarray) -> list[float]:
        """Each layer's φ in candidate ``x``."""
        n = len(self.snn.if_names)
        return [float(v) for v in x[n:]] if self.cfg.search_phi else [self.cfg.phi] * n

    def curves(
        self, candidates: Sequence[np.ndarray]
    ) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """``(accuracy [T], spike counts {layer: [T]})`` of each candidate; with
        ``readout_delays`` the accuracy read after the k of least cost (ties: the smaller k)."""
        cfg = self.cfg
        thresholds = torch.tensor(
            [
                candidate_thresholds(self.snn, x, cfg.parameterisation, self.base_thresholds)
                for x in candidates
            ]
        )
        r = simulate_groups(
            self.snn,
            grouped_batches([self.images_for(x) for x in candidates], cfg.batch_size),
            thresholds,
            cfg.timesteps,
            phi=torch.tensor([self.phi_of(x) for x in candidates]),
            delay=cfg.delay,
            bias_onset=cfg.bias_onset,
            progress=self.progress,
            readouts=range(cfg.readout_delays + 1),
            presim=cfg.presim,
        )
        accuracy = r.accuracy_by_readout.numpy()  # [K, G, T]
        out = []
        for g in range(len(candidates)):
            counts = {name: c[g].numpy() for name, c in r.spike_counts.items()}
            costs = [float(self.cost(curve[g], counts)) for curve in accuracy]
            out.append((accuracy[int(np.argmin(costs)), g], counts))
        return out

    def curve(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.curves([np.asarray(x, dtype=np.float64)])[0]

    def score(self, candidates: Sequence[np.ndarray]) -> list[float]:
        """Costs of all candidates from one grouped simulation."""
        xs = [np.asarray(x, dtype=np.float64) for x in candidates]
        return [float(self.cost(*curve)) for curve in self.curves(xs)]

    def __call__(self, x: np.ndarray) -> float:
        return self.score([x])[0]

    def apply(self, x: np.ndarray) -> None:
        """Set the SNN to candidate ``x`` (thresholds and φ)."""
        x = np.asarray(x, dtype=np.float64)
        apply_candidate(self.snn, x, self.cfg.parameterisation, self.base_thresholds)
        self.snn.set_phi(self.phi_of(x))


def cost_noise(evaluator: Evaluator, candidates: Sequence[np.ndarray], draws: int) -> np.ndarray:
    """``[draws, K]`` cost of every candidate on each of ``draws`` random training subsets of
    E images (subset r drawn with seed ``cfg.seed + r``; all candidates share it).

    Across a row the candidates are compared on the same images, as the fixed S compares
    them; down a column one candidate's cost varies with its images, the noise of a
    per-candidate draw."""
    cfg = evaluator.cfg
    costs = np.empty((draws, len(candidates)))
    for r in range(draws):
        subset = evaluator.train.random_subset(evaluator.n_images, cfg.seed + r)
        # S = every image of the draw (in another order, which no cost depends on)
        shared = Evaluator(
            evaluator.snn,
            subset,
            dataclasses.replace(cfg, subset="fixed"),
            cost=evaluator.cost,
            base_thresholds=evaluator.base_thresholds if cfg.parameterisation == "scale" else None,
        )
        costs[r] = shared.score([np.asarray(x, dtype=np.float64) for x in candidates])
    return costs


def vectorised_map(evaluator: Evaluator) -> MapFn:
    """A map for SciPy that scores a whole generation as one grouped simulation on one device
    (P candidates × E images in shared batches)."""

    def map_fn(func, iterable):
        return evaluator.score(list(iterable))

    return map_fn


# --- parallel evaluation: each worker process holds one Evaluator, sent once ----------------
_WORKER: Evaluator | None = None


def _init_worker(evaluator: Evaluator, threads: int, tf32: Switches) -> None:
    global _WORKER
    torch.set_num_threads(threads)
    set_tf32(tf32)  # the starting process's switches, not PyTorch's defaults
    evaluator.progress = False  # no bars from the workers
    _WORKER = evaluator


def _evaluate_in_worker(x: np.ndarray) -> float:
    return _WORKER(x)


class _PoolMap:
    """Map-like callable for SciPy that scores candidates in a pool of worker processes."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def __call__(self, func, iterable):
        return self.pool.map(_evaluate_in_worker, list(iterable))


def process_pool_map(evaluator: Evaluator, workers: int, threads: int | None = None):
    """A multiprocessing pool (spawned processes) whose workers each hold ``evaluator``.

    ``threads`` is each worker's torch thread count (default: this process's share). CPU
    convolution kernels may round differently in another process (thread count, memory
    alignment), so a spike at an exact threshold tie can flip and a candidate's cost can
    differ slightly from a serial run's; the search is not sensitive to that.
    """
    import multiprocessing as mp

    threads = threads or max(1, torch.get_num_threads() // workers)
    pool = mp.get_context("spawn").Pool(
        workers, _init_worker, (evaluator, threads, tf32_switches())
    )
    return _PoolMap(pool), pool


def ray_pool_map(evaluator: Evaluator, workers: int, address: str | None = None, threads: int = 1):
    """A Ray pool (``ray.util.multiprocessing.Pool``) on a local or existing Ray cluster;
    ``threads`` as in ``process_pool_map``."""
    import ray
    from ray.util.multiprocessing import Pool

    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=None if address else workers,
            include_dashboard=False,
            log_to_driver=False,
        )
    pool = Pool(
        processes=workers,
        initializer=_init_worker,
        initargs=(evaluator, threads, tf32_switches()),
    )
    return _PoolMap(pool), pool


# --- the search --------------------------------------------------------------------------------
@dataclass
class Generation:
    generation: int
    best_cost: float
    mean_cost: float
    population: list[list[float]]  # [P, n] candidate values
    costs: list[float]  # [P]
    evaluations: int  # cumulative function evaluations
    seconds: float


@dataclass
class SearchResult:
    layers: list[str]
    parameterisation: str
    best: list[float]  # the best candidate (percentiles or scales, then φ where searched)
    best_thresholds: list[float]  # the resulting threshold values
    best_cost: float
    best_phi: list[float] = field(default_factory=list)  # each layer's φ at the best
    history: list[Generation] = field(default_factory=list)
    evaluations: int = 0
    wall_seconds: float = 0.0
    converged: bool = False  # SciPy's tolerance stopped it before G generations
    start_cost: float | None = None  # the unsearched start's cost (``unless_beaten``)
    kept_start: bool = False  # the start returned: the search did not beat it

    @property
    def generations(self) -> int:
        return len(self.history)

    def nfe(self, population: int) -> int:
        """Eq. 10: G × P (the initial population's evaluations are counted apart)."""
        return self.generations * population


def initial_population(cfg: SearchConfig, n_layers: int) -> np.ndarray:
    """``[P, n]`` draws from N(center, std²) clipped to the bounds (Algorithm 1, line 10);
    with ``search_phi`` ``[P, 2n]``, the φ columns from N(φ, φ_std²) clipped to [0, 0.95]."""
    rng = np.random.default_rng(cfg.seed)
    lo, hi = cfg.bounds
    pop = np.clip(rng.normal(cfg.center, cfg.std, size=(cfg.population, n_layers)), lo, hi)
    if not cfg.search_phi:
        return pop
    phi = np.clip(rng.normal(cfg.phi, cfg.phi_std, size=(cfg.population, n_layers)), 0, PHI_UPPER)
    return np.concatenate([pop, phi], axis=1)


def start_candidate(cfg: SearchConfig, n_layers: int) -> np.ndarray:
    """The unsearched SNN as a candidate: every threshold at the initial population's centre
    (the baseline percentile, or scale 1 of the base thresholds), every φ (``search_phi``) at
    ``cfg.phi``."""
    x = np.full(n_layers, cfg.center, dtype=np.float64)
    if cfg.search_phi:
        x = np.concatenate([x, np.full(n_layers, cfg.phi)])
    return x


def unless_beaten(
    evaluator: Evaluator, result: SearchResult, start_cost: float | None = None
) -> SearchResult:
    """``result``, or the unsearched start where the search's best does not cost strictly
    less on the search images (the start scored here, unless its ``start_cost`` is given: that
    of the same evaluator, saved); the SNN is left at the one returned. neurosnn's option: Lu &
    Sengupta return DE's best whatever the start's cost, and a best that only ties the start on
    its E images is a draw of the cost's noise
    (docs/latency.md, section 5), which can be slower on the test set."""
    start = start_candidate(evaluator.cfg, len(result.layers))
    cost = float(evaluator(start)) if start_cost is None else start_cost
    if result.best_cost < cost:
        evaluator.apply(np.asarray(result.best))
        return dataclasses.replace(result, start_cost=cost)
    evaluator.apply(start)
    snn = evaluator.snn
    return dataclasses.replace(
        result,
        best=start.tolist(),
        best_thresholds=snn.thresholds,
        best_phi=snn.phi,
        best_cost=cost,
        start_cost=cost,
        kept_start=True,
    )


def _rng_state(solver) -> Any:
    rng = solver.random_number_generator
    return rng.bit_generator.state if hasattr(rng, "bit_generator") else rng.get_state()


def _set_rng_state(solver, state: Any) -> None:
    rng = solver.random_number_generator
    inner = state.get("state") if isinstance(state, dict) else None
    if isinstance(inner, dict) and "key" in inner:  # MT19937 keeps an array, saved as a list
        inner["key"] = np.asarray(inner["key"], dtype=np.uint32)
    if hasattr(rng, "bit_generator"):
        rng.bit_generator.state = state
    else:
        rng.set_state(tuple(state))


def _save_state(
    path: Path, solver, result: SearchResult, cfg: SearchConfig, fingerprint: str
) -> None:
    state = {
        "config": asdict(cfg),
        "snn": fingerprint,
        "population": solver.population.tolist(),
        "energies": solver.population_energies.tolist(),
        "rng": _rng_state(solver),
        # SciPy shuffles this index in place when it picks donors: it is state too
        "population_index": solver._random_population_index.tolist(),
        "nfev": int(solver._nfev),
        "result": asdict(result),
    }
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(state, default=lambda o: o.tolist()))


def run_search(
    evaluator: Evaluator,
    map_fn: MapFn = map,
    state_path: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    on_generation: Callable[[Generation], None] | None = None,
) -> SearchResult:
    """Run the DE threshold search.

    Args:
        evaluator: scores one candidate (holds the SNN, the training split and the config).
        map_fn: how a generation's candidates are scored: ``map`` (serial), or the map of a
            process or Ray pool (``process_pool_map``, ``ray_pool_map``).
        state_path: JSON file rewritten after every generation.
        resume: continue from ``state_path`` if it exists.
        progress: show a progress bar over generations with the best cost so far.
        on_generation: called after each generation (and its state is saved).

    Returns:
        The best candidate, its thresholds and the per-generation history.
    """
    cfg, snn = evaluator.cfg, evaluator.snn
    evaluator.progress = progress  # a generation's batches show progress too
    layers = list(snn.if_names)
    state_path = Path(state_path) if state_path is not None else None
    solver = DifferentialEvolutionSolver(
        evaluator,
        cfg.dimension_bounds(len(layers)),
        strategy="best1bin",
        maxiter=cfg.generations,
        tol=cfg.tol,
        mutation=cfg.mutation,
        recombination=cfg.crossover,
        rng=cfg.seed,
        polish=False,
        init=initial_population(cfg, len(layers)),
        updating="deferred",
        workers=map_fn,
    )
    result = SearchResult(layers, cfg.parameterisation, [], [], math.inf)
    fingerprint = snn.fingerprint()
    if resume and state_path is not None and state_path.is_file():
        state = json.loads(state_path.read_text())
        now = as_saved(cfg)
        saved = with_defaults(state["config"], as_saved(SearchConfig()))
        if saved != now:
            raise ResumeMismatch(
                f"cannot resume: {state_path} was written with other settings "
                f"({changed_settings(saved, now)})"
            )
        if "snn" not in state:  # written before states recorded their network
            log.warning("%s does not record its network; resuming without that check", state_path)
        elif state["snn"] != fingerprint:
            raise ResumeMismatch(
                f"cannot resume: {state_path} was written for another network (other weights "
                f"or calibration; SNN fingerprint {str(state.get('snn'))[:12]}…, this one "
                f"{fingerprint[:12]}…)"
            )
        solver.population = np.asarray(state["population"])
        solver.population_energies = np.asarray(state["energies"])
        solver.feasible = np.ones(len(solver.population), dtype=bool)
        solver.constraint_violation = np.zeros((len(solver.population), 1))
        solver._nfev = state["nfev"]
        solver._random_population_index = np.asarray(state["population_index"])
        _set_rng_state(solver, state["rng"])
        saved = state["result"]
        saved["history"] = [Generation(**g) for g in saved["history"]]
        result = SearchResult(**saved)
    start = time.perf_counter() - result.wall_seconds
    bar = tqdm(
        total=cfg.generations,
        initial=result.generations,
        desc="threshold search",
        unit="gen",
        disable=None if progress else True,
    )
    try:
        while result.generations < cfg.generations and not result.converged:
            t0 = time.perf_counter()
            best_x, best_cost = next(solver)
            population = solver._scale_parameters(solver.population)
            costs = solver.population_energies
            gen = Generation(
                result.generations + 1,
                float(best_cost),
                float(np.mean(costs)),
                population.tolist(),
                costs.tolist(),
                int(solver._nfev),
                time.perf_counter() - t0,
            )
            result.history.append(gen)
            result.best, result.best_cost = [float(v) for v in best_x], float(best_cost)
            result.evaluations = gen.evaluations
            result.wall_seconds = time.perf_counter() - start
            result.converged = bool(solver.converged())
            if state_path is not None:
                _save_state(state_path, solver, result, cfg, fingerprint)
            bar.update(1)
            bar.set_postfix(best_cost=f"{best_cost:.3f}")
            if on_generation is not None:
                on_generation(gen)
    finally:
        bar.close()
    evaluator.apply(np.asarray(result.best))
    result.best_thresholds, result.best_phi = snn.thresholds, snn.phi
    return result


def search_training_cost(result: SearchResult, cfg: SearchConfig, train_size: int) -> float:
    """Eq. 17 with the generations this search ran."""
    return training_cost(
        min(cfg.images, train_size), result.generations, cfg.population, train_size
    )
