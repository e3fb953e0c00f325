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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize._differentialevolution import DifferentialEvolutionSolver
from tqdm.auto import tqdm

from neurosnn.config.search import PHI_UPPER, SearchConfig
from neurosnn.errors import UserError
from neurosnn.io.output import ResumeMismatch, as_saved, atomic, changed_settings, with_defaults
from neurosnn.search.cost import training_cost
from neurosnn.search.evaluate import Evaluator, MapFn

log = logging.getLogger(__name__)


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


def _read_state(path: Path) -> dict[str, Any]:
    """A search state's JSON, refused in one line where it is not one neurosnn wrote."""
    try:
        state = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path} is not a readable search state (damaged JSON: {err})") from err
    missing = {"config", "population", "energies", "rng", "population_index", "nfev", "result"}
    missing -= set(state) if isinstance(state, dict) else set()
    if not isinstance(state, dict) or missing:
        raise UserError(f"{path} is not a search state neurosnn wrote (missing {sorted(missing)})")
    if not isinstance(state["config"], dict) or not isinstance(state["result"], dict):
        raise UserError(f"{path} is a damaged search state (its config or result is not a dict)")
    return state


def _restore(path: Path, solver, cfg: SearchConfig, fingerprint: str) -> SearchResult:
    """Put the solver where the saved state ``path`` left it and return the result so far;
    a state of other settings or another network, or a damaged one, is refused."""
    state = _read_state(path)
    now = as_saved(cfg)
    saved = with_defaults(state["config"], as_saved(SearchConfig()))
    if saved != now:
        raise ResumeMismatch(
            f"cannot resume: {path} was written with other settings "
            f"({changed_settings(saved, now)})"
        )
    if "snn" not in state:  # written before states recorded their network
        log.warning("%s does not record its network; resuming without that check", path)
    elif state["snn"] != fingerprint:
        raise ResumeMismatch(
            f"cannot resume: {path} was written for another network (other weights "
            f"or calibration; SNN fingerprint {str(state.get('snn'))[:12]}…, this one "
            f"{fingerprint[:12]}…)"
        )
    try:
        population = np.asarray(state["population"], dtype=np.float64)
        energies = np.asarray(state["energies"], dtype=np.float64)
        index = np.asarray(state["population_index"], dtype=np.int64)
        size = len(solver.population)
        if population.shape != solver.population.shape or not np.isfinite(population).all():
            raise ValueError(f"population of shape {population.shape}")
        if energies.shape != (size,) or np.isnan(energies).any():
            raise ValueError(f"costs of shape {energies.shape}")
        if sorted(index.tolist()) != list(range(size)):
            raise ValueError("the population index is not a permutation")
        nfev = state["nfev"]
        if isinstance(nfev, bool) or not isinstance(nfev, int) or nfev < 0:
            raise ValueError(f"nfev {nfev!r}")
        saved = dict(state["result"])
        saved["history"] = [Generation(**g) for g in saved["history"]]
        result = SearchResult(**saved)
        best = np.asarray(result.best, dtype=np.float64)
        if result.history and (best.shape != population.shape[1:] or not np.isfinite(best).all()):
            raise ValueError(f"best candidate of shape {best.shape}")
        if not isinstance(result.wall_seconds, int | float) or not result.wall_seconds >= 0:
            raise ValueError(f"wall_seconds {result.wall_seconds!r}")
        _set_rng_state(solver, state["rng"])
    except (TypeError, ValueError, KeyError, OverflowError, IndexError, AttributeError) as err:
        raise UserError(f"{path} is a damaged or edited search state: {err!r}") from err
    solver.population = population
    solver.population_energies = energies
    solver.feasible = np.ones(size, dtype=bool)
    solver.constraint_violation = np.zeros((size, 1))
    solver._nfev = nfev
    solver._random_population_index = index
    return result


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
        result = _restore(state_path, solver, cfg, fingerprint)
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
