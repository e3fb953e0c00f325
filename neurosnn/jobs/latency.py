"""Low-latency recipes and the job that measures them: how many timesteps a converted SNN
needs to reach its ANN's accuracy under each combination of conversion, timing and search.

A ``Recipe`` is the set of options that turn an ANN into an SNN and run it:

* ``percentile_of``: the 99.7 percentile over all of a layer's ReLU outputs (Lu & Sengupta's
  code, the paper's baseline) or over the positive ones (Rueckauer et al.);
* ``thresholds="trained"``: the λ of a network trained with QCFS activations (Bu et al.);
* ``thresholds="balanced"``: Bu, Li & Yu's local threshold balancing (CVPR 2025), one
  threshold per channel learnt on 12 batches of 100 calibration images (the authors'; or
  ``balance_iterations`` of them);
* ``phi``: initial potential ``φ·θ`` (0.5: the half-threshold shift of Bu et al., ICLR 2022);
* ``channelwise``: one threshold per channel (folded into the weights);
* ``bias_onset="input"``: each layer's bias withheld until its input can arrive (with the
  layer delay, step n for a layer n connections from the input by its shortest path; for a
  chain the run is then the undelayed one shifted by the depth);
* ``search``: the paper's DE search of the thresholds (Eq. 11, fixed mini-dataset S), or the
  search of (θ, φ) per layer with the steps to ANN − 1% on S as the cost (``theta-phi``), or
  that search with the delayed readout in its cost (``theta-phi-delayed``, recipes
  ``…+search-k+delayed``): a candidate costs the steps of its best readout delay k
  (``SearchConfig.readout_delays``), the readout its SNN is then measured with;
* ``calibration="light"``: Li et al.'s bias calibration (ICML 2021,
  ``neurosnn.convert.biascal``) at ``calibration_timesteps``, on the first 256 of the
  calibration images, after the thresholds and φ are set; ``"advanced"``: their potential
  calibration (a per-neuron initial potential) instead, as the authors' CIFAR script runs it;
  with a search, the calibration follows it (made for the searched thresholds and φ);
  recipes that differ only in their calibration or delayed readout share one search
  (``out/RECIPE_search``, RECIPE the one without them);
* ``delayed``: delayed evaluation (Bu, Li & Yu, CVPR 2025): the readout ignores the first k
  steps, k chosen on the search's training images at ``--target-timesteps``
  (``neurosnn.delayed``); the k steps count in the latency;
* ``presim``: SRP (Hao et al., AAAI 2023, ``neurosnn.srp``): τ pre-simulation steps, then a
  fresh run with the neurons whose residual potential is not above zero silenced; run without
  the layer delay, as the authors run it, and the τ steps count in the latency.

``measure_latency`` runs recipes on the test set and reports, per recipe, the steps to
ANN − 1% / − 2% and to the baseline's accuracy at a long horizon, the accuracy at fixed steps
and the spikes per image; each run is an ordinary HDF5 run record. The steps are counted with
the layer delay (Lu & Sengupta's counting) and without it (the field's): for a chain the second
is exact arithmetic on the first where the onset gates the bias; for a graph, whose shortcuts
arrive before the main path, every recipe is simulated once more without the delay.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from neurosnn.convert import ThresholdSource, ann_graph, convert
from neurosnn.convert.balance import ITERATIONS as BALANCE_ITERATIONS
from neurosnn.convert.biascal import calibrate_biases, calibrate_potentials
from neurosnn.convert.pipeline import THRESHOLD_SOURCES
from neurosnn.convert.weightcal import calibrate_weights
from neurosnn.cost import latency_report
from neurosnn.data import Dataset, Split, seeded_subset
from neurosnn.delayed import choose_readout_after
from neurosnn.engine import BIAS_ONSETS, DELAYS, BiasOnset, Delay
from neurosnn.errors import UserError
from neurosnn.evolve import (
    Evaluator,
    SearchConfig,
    run_search,
    search_images,
    unless_beaten,
    vectorised_map,
)
from neurosnn.files.record import RunWriter, read_run, read_search, write_search
from neurosnn.files.snnfile import load_snn, save_snn
from neurosnn.networks.blocks import QCFS
from neurosnn.output import as_saved, changed_settings, with_defaults, write_json
from neurosnn.simulate import SimResult, simulate
from neurosnn.snn import PERCENTILE_OF, ConvertedSNN, PercentileOf, check_phi
from neurosnn.srp import check_presim
from neurosnn.train import evaluate

log = logging.getLogger(__name__)
SearchKind = Literal["none", "eq11", "theta-phi", "theta-phi-delayed"]
SEARCHES: tuple[str, ...] = ("none", "eq11", "theta-phi", "theta-phi-delayed")
# light: biases; advanced: potentials (the authors' CIFAR script); weights: weights on 1,024
# images, then potentials (their ImageNet script)
CALIBRATIONS: tuple[str, ...] = ("none", "light", "advanced", "weights")
WEIGHT_CALIBRATION_IMAGES = 1024
WEIGHT_CALIBRATION: dict[str, Any] = {}  # calibrate_weights' defaults: the authors' ImageNet
BASELINE = "all"  # the recipe whose long-horizon accuracy is the third target


@dataclass(frozen=True)
class Recipe:
    """Conversion and timing options of an SNN, and the threshold search run on top."""

    percentile: float = 99.7
    percentile_of: PercentileOf = "all"
    channelwise: bool = False
    phi: float = 0.0
    delay: Delay = "layer"
    bias_onset: BiasOnset = "always"
    search: SearchKind = "none"
    thresholds: ThresholdSource = "percentile"
    calibration: Literal["none", "light", "advanced", "weights"] = "none"
    calibration_timesteps: int = 16
    delayed: bool = False
    balance_iterations: int = BALANCE_ITERATIONS  # the authors' 12; 200 where 12 clip too much
    presim: int = 0  # SRP's τ (0: none)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("percentile_of", self.percentile_of, PERCENTILE_OF),
            ("delay", self.delay, DELAYS),
            ("bias_onset", self.bias_onset, BIAS_ONSETS),
            ("search", self.search, SEARCHES),
            ("thresholds", self.thresholds, THRESHOLD_SOURCES),
            ("calibration", self.calibration, CALIBRATIONS),
        ):
            if value not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {value!r}")
        check_phi(self.phi)
        if self.search == "theta-phi-delayed" and not self.delayed:
            raise UserError("search 'theta-phi-delayed' scores the delayed readout: needs delayed")
        check_presim(self.presim)
        if self.presim and (self.delay != "none" or self.delayed or self.search == "eq11"):
            raise UserError(
                "presim (SRP) runs without the layer delay (delay='none'), without the delayed "
                "readout, and is searched by the (θ, φ) search only"
            )

    def convert(
        self, model: nn.Module, batches: list, input_shape: tuple[int, ...], device: str = "cpu"
    ) -> ConvertedSNN:
        return convert(
            model,
            batches,
            input_shape,
            self.percentile,
            device,
            percentile_of=self.percentile_of,
            channelwise=self.channelwise,
            phi=self.phi,
            thresholds=self.thresholds,
            balance_iterations=self.balance_iterations,
        )

    def applies_to(self, qcfs: list[bool]) -> bool:
        """Trained thresholds need a QCFS network, channel-wise and balanced ones a ReLU
        network (``qcfs``: whether each IF layer's activation is QCFS)."""
        if self.thresholds == "trained":
            return all(qcfs)
        return not ((self.channelwise or self.thresholds == "balanced") and any(qcfs))

    def set_on(self, snn: ConvertedSNN, trained: list[float]) -> None:
        """Reset a converted SNN to this recipe's thresholds and φ."""
        if self.thresholds != "percentile":
            snn.set_thresholds(trained)
        else:
            snn.set_percentiles(self.percentile)
        snn.set_phi(self.phi)

    def before_search_ends(self) -> Recipe:
        """This recipe without what follows its search (calibration, and the delayed readout
        unless the search scores it): the recipe the search itself runs."""
        return dataclasses.replace(
            self, calibration="none", delayed=self.search == "theta-phi-delayed"
        )

    def search_config(self, base: SearchConfig, timesteps: int, shift: int = 0) -> SearchConfig:
        """``base`` (the search's size and weights) run on this recipe's SNN: Eq. 11 over the
        thresholds, or the steps to ANN − 1% over (θ, φ); trained and balanced thresholds are
        searched as scales of theirs. ``theta-phi-delayed`` scores readout delays up to
        ``timesteps // 2`` (as ``choose_readout_after`` chooses k) plus ``shift`` (the steps a
        chain's delayed run is shifted by: its depth)."""
        recipe = dict(
            initial_percentile=self.percentile,
            percentile_of=self.percentile_of,
            channelwise=self.channelwise or self.thresholds == "balanced",
            phi=self.phi,
            delay=self.delay,
            bias_onset=self.bias_onset,
            timesteps=timesteps,
            presim=self.presim,
        )
        if self.search in ("theta-phi", "theta-phi-delayed"):
            recipe.update(search_phi=True, objective="steps-to-target", target_drop=0.01)
        if self.search == "theta-phi-delayed":
            recipe.update(readout_delays=min(timesteps // 2 + shift, timesteps - 1))
        if self.thresholds != "percentile":
            recipe.update(parameterisation="scale", lower=None, upper=None)
        return dataclasses.replace(base, **recipe)


RECIPES: dict[str, Recipe] = {
    "positive": Recipe(percentile_of="positive"),
    "all": Recipe(),
    "all+search": Recipe(search="eq11"),
    "phi": Recipe(phi=0.5),
    "channelwise": Recipe(channelwise=True),
    "onset": Recipe(bias_onset="input"),
    "phi+onset": Recipe(phi=0.5, bias_onset="input"),
    "phi+onset+channelwise": Recipe(phi=0.5, bias_onset="input", channelwise=True),
    "phi+onset+search": Recipe(phi=0.5, bias_onset="input", search="theta-phi"),
    "phi+onset+channelwise+search": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, search="theta-phi"
    ),
    "phi+onset+light": Recipe(phi=0.5, bias_onset="input", calibration="light"),
    "phi+onset+channelwise+light": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="light"
    ),
    "phi+onset+balanced": Recipe(thresholds="balanced", phi=0.5, bias_onset="input"),
    "phi+onset+balanced200": Recipe(
        thresholds="balanced", phi=0.5, bias_onset="input", balance_iterations=200
    ),
    "phi+onset+balanced+search": Recipe(
        thresholds="balanced", phi=0.5, bias_onset="input", search="theta-phi"
    ),
    "phi+onset+advanced": Recipe(phi=0.5, bias_onset="input", calibration="advanced"),
    "phi+onset+channelwise+advanced": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="advanced"
    ),
    "phi+onset+channelwise+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, delayed=True
    ),
    "phi+onset+channelwise+weights": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="weights"
    ),
    "phi+onset+channelwise+weights+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="weights", delayed=True
    ),
    "phi+onset+channelwise+search+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, search="theta-phi", delayed=True
    ),
    # the search, then the potential calibration on its thresholds, then k
    "phi+onset+channelwise+search+advanced+delayed": Recipe(
        phi=0.5,
        bias_onset="input",
        channelwise=True,
        search="theta-phi",
        calibration="advanced",
        delayed=True,
    ),
    "phi+onset+channelwise+advanced+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, calibration="advanced", delayed=True
    ),
    "phi+onset+balanced+delayed": Recipe(
        thresholds="balanced", phi=0.5, bias_onset="input", delayed=True
    ),
    "trained+phi+onset+delayed": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", delayed=True
    ),
    "trained+phi+onset": Recipe(thresholds="trained", phi=0.5, bias_onset="input"),
    "trained+phi+onset+advanced": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", calibration="advanced"
    ),
    "trained+phi+onset+advanced+delayed": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", calibration="advanced", delayed=True
    ),
    "trained+phi+onset+search": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", search="theta-phi"
    ),
    "trained+phi+onset+search+delayed": Recipe(
        thresholds="trained", phi=0.5, bias_onset="input", search="theta-phi", delayed=True
    ),
    # the search scored with its best readout delay (search-k), then k chosen as before
    "phi+onset+channelwise+search-k+delayed": Recipe(
        phi=0.5, bias_onset="input", channelwise=True, search="theta-phi-delayed", delayed=True
    ),
    "phi+onset+channelwise+search-k+advanced+delayed": Recipe(
        phi=0.5,
        bias_onset="input",
        channelwise=True,
        search="theta-phi-delayed",
        calibration="advanced",
        delayed=True,
    ),
    "trained+phi+onset+search-k+delayed": Recipe(
        thresholds="trained",
        phi=0.5,
        bias_onset="input",
        search="theta-phi-delayed",
        delayed=True,
    ),
    # the same search scored without the layer delay, as the field counts: in a graph the
    # delayed and undelayed runs are not shifts of each other, so a search scored with the
    # layer delay need not shorten the undelayed count (a chain's is the same either way)
    "trained+phi+search-k+delayed": Recipe(
        thresholds="trained", phi=0.5, delay="none", search="theta-phi-delayed", delayed=True
    ),
    "phi+channelwise+search-k+delayed": Recipe(
        phi=0.5, channelwise=True, delay="none", search="theta-phi-delayed", delayed=True
    ),
    # SRP with τ = 4 (the authors' CIFAR setting) and 2, without the layer delay
    "trained+phi+srp2": Recipe(thresholds="trained", phi=0.5, delay="none", presim=2),
    "trained+phi+srp4": Recipe(thresholds="trained", phi=0.5, delay="none", presim=4),
    "phi+channelwise+srp4": Recipe(phi=0.5, channelwise=True, delay="none", presim=4),
    "phi+channelwise+srp4+search": Recipe(
        phi=0.5, channelwise=True, delay="none", presim=4, search="theta-phi"
    ),
    "trained+phi+srp4+search": Recipe(
        thresholds="trained", phi=0.5, delay="none", presim=4, search="theta-phi"
    ),
}


# the searches' weights (Table I's CIFAR-10 row) and a size for 2 CPU cores; tol 0: all G
SEARCH = SearchConfig(1, 10, 500, 99.7, 0.15, 10, 6, 500, tol=0.0)


def sized_search(population: int, generations: int, images: int) -> SearchConfig:
    """``SEARCH`` with another P, G and E."""
    return dataclasses.replace(
        SEARCH, population=population, generations=generations, images=images
    )


@dataclass(frozen=True)
class LatencyConfig:
    """What ``measure_latency`` runs.

    Attributes:
        recipes: names in ``RECIPES`` (default: every recipe that applies to the model).
        timesteps: T of every test-set run.
        long_horizon: the baseline (``BASELINE``) also runs to this many times T; its
            accuracy there is the third target.
        test_images: seeded random test images (≥ 2,000 for the README's figures).
        calib_images: training images calibrating the conversion.
        search: size and weights of the searches (P, G, E, α, β, γ …).
        eq11_timesteps: T of the Eq. 11 search (it must see the baseline's rise; default T).
        target_timesteps: T of the (θ, φ) search (the best recipes are level by then).
        search_keep_start: a search returns its best only where it costs strictly less on its
            images than the unsearched recipe, else the recipe as it was
            (``neurosnn.evolve.unless_beaten``; Lu & Sengupta return the best either way).
        batch_size: images per simulated batch.
        seed: seed of the test and calibration subsets.
    """

    recipes: tuple[str, ...] | None = None
    timesteps: int = 128
    long_horizon: int = 3
    test_images: int = 2000
    calib_images: int = 2000
    search: SearchConfig = SEARCH
    eq11_timesteps: int | None = None
    target_timesteps: int = 48
    search_keep_start: bool = False
    batch_size: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [r for r in self.recipes or () if r not in RECIPES]
        if unknown:
            raise UserError(f"recipes: unknown {unknown}; known: {list(RECIPES)}")
        if self.timesteps < 2 or self.long_horizon < 1 or self.target_timesteps < 2:
            raise UserError("timesteps and target_timesteps must be >= 2, long_horizon >= 1")
        for name in ("test_images", "calib_images", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class RecipeResult:
    """One recipe's test-set figures (``neurosnn.cost.latency_report`` and more)."""

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


_NETWORK_KEYS = ("checkpoint", "ann_accuracy", "test_images")  # what a kept record must match


def _run_config(recipe: Recipe, T: int, images: int, readout_after: int) -> dict:
    run_cfg = {"recipe": dataclasses.asdict(recipe), "timesteps": T, "test_images": images}
    if readout_after:
        run_cfg["readout_after"] = readout_after
    return as_saved(run_cfg)


def _kept_record(path: Path, run_cfg: dict, T: int, meta: dict) -> Any:
    """The finished record of this run in ``path``, or None; refuses another network's."""
    if not path.is_file():
        return None
    record = read_run(path)
    same_network = all(record.metadata.get(k) == meta.get(k) for k in _NETWORK_KEYS)
    if not same_network:
        raise UserError(
            f"{path} records another network ({record.metadata.get('checkpoint')}, ANN "
            f"{record.metadata.get('ann_accuracy')}); use another output folder"
        )
    # a recipe setting added after the record was written counts as its default
    defaults = {"recipe": as_saved(Recipe())}
    if with_defaults(record.config, defaults) == run_cfg and record.timesteps == T:
        return record
    return None


def _undelayed(recipe: Recipe) -> Recipe:
    """A graph's layer-delay recipe run as the field counts (its delay-none record)."""
    return dataclasses.replace(recipe, delay="none", bias_onset="always")


def _finished(
    out: Path, name: str, recipe: Recipe, is_chain: bool, T: int, images: int, cfg, meta: dict
) -> tuple[ConvertedSNN, dict[str, int]] | None:
    """The recipe's kept SNN and readout delays when every run of it is finished in ``out``, so
    that a resumed job reads them back instead of searching, calibrating and choosing k again;
    None when a run is missing or the SNN file predates its readout delays being kept."""
    kept = out / f"{name}.snn.h5"
    if not kept.is_file():
        return None
    snn, file_meta = load_snn(kept)
    source = file_meta.get("source", {})
    if any(source.get(key) != meta.get(key) for key in ("checkpoint", "ann_accuracy")):
        return None
    k = source.get("simulation", {}).get("readout_after", {})
    if recipe.delayed and not k:
        return None
    runs = [(out / f"{name}.h5", recipe, T, k.get(recipe.delay, 0))]
    if recipe.delay == "layer" and not is_chain:
        runs.append(
            (out / f"{name}.delay-none.h5", _undelayed(recipe), cfg.timesteps, k.get("none", 0))
        )
    for path, run, steps, after in runs:
        if _kept_record(path, _run_config(run, steps, images, after), steps, meta) is None:
            return None
    return snn, k


def _simulate_to(
    path: Path,
    snn,
    test: Split,
    T: int,
    recipe: Recipe,
    meta: dict,
    cfg,
    progress: bool,
    readout_after: int = 0,
) -> Any:
    """Simulate and record the test set (kept if a finished record of the same run exists)."""
    run_cfg = _run_config(recipe, T, len(test), readout_after)
    record = _kept_record(path, run_cfg, T, meta)
    if record is not None:
        log.info("%s: kept the finished record %s", path.stem, path)
        return record
    with RunWriter(path, run_cfg) as writer:
        result = simulate(
            snn,
            test.batches(cfg.batch_size),
            T,
            delay=recipe.delay,
            bias_onset=recipe.bias_onset,
            record_spikes=4,
            spike_sink=writer.write_spikes,
            progress=progress,
            readout_after=readout_after,
            presim=recipe.presim,
        )
        writer.write_result(result, snn.percentiles, meta)
    return result


def _spikes_per_image(run: SimResult | Any, steps: int) -> float:
    return sum(float(np.asarray(c[:steps]).sum()) for c in run.spike_counts.values()) / run.n_images


def _calibrate(snn: ConvertedSNN, recipe: Recipe, batches: list, name: str) -> None:
    """Li et al.'s calibration of the recipe, in place, on the first calibration images."""
    T = recipe.calibration_timesteps
    if recipe.calibration == "weights":
        images = torch.cat(batches)[:WEIGHT_CALIBRATION_IMAGES]
        log.info("%s: weight calibration at T=%d on %d training images", name, T, len(images))
        for layer, (before, after) in calibrate_weights(
            snn, [images], T, **WEIGHT_CALIBRATION
        ).items():
            log.info("%s: %s loss %.4g -> %.4g", name, layer, before, after)
    kind = "bias" if recipe.calibration == "light" else "potential"
    log.info("%s: %s calibration at T=%d on %d training images", name, kind, T, len(batches[0]))
    calibrate = calibrate_biases if recipe.calibration == "light" else calibrate_potentials
    calibrate(snn, batches[:1], T)


def _readout_delays(snn, recipe: Recipe, cfg: LatencyConfig, model, train: Split) -> dict:
    """Delayed evaluation's k for each counting (``{"layer": k, "none": k}``), chosen on the
    search's training images at ``target_timesteps``. A chain whose biases wait for their input
    runs its undelayed run shifted by the depth, so its k is the undelayed one plus the depth
    (the shift stays exact); a graph's is chosen for each run."""
    fixed = search_images(train, recipe.search_config(cfg.search, cfg.target_timesteps))
    images = fixed if fixed is not None else train.random_subset(cfg.search.images, 0)
    target = evaluate(model, images) - 0.01
    batches = list(images.batches(cfg.batch_size))
    T = cfg.target_timesteps

    def choose(delay: str, onset: str) -> int:
        k, steps = choose_readout_after(snn, batches, T, target, delay, onset)
        log.info(
            "readout delay (%s): k = %d, step %s on %d training images",
            delay,
            k,
            steps[k],
            len(images),
        )
        return k

    none = choose("none", "always")
    if recipe.delay == "none":
        return {"none": none}
    if snn.is_chain and recipe.bias_onset == "input":
        return {"layer": none + snn.depth, "none": none}
    return {"layer": choose(recipe.delay, recipe.bias_onset), "none": none}


def searched_recipe(name: str) -> str:
    """The recipe whose search ``name`` runs: its own, or that of the recipe without what
    follows its search (``Recipe.before_search_ends``: the calibration, and the delayed readout
    unless the search scores it), so that such recipes share one search folder and its
    result."""
    plain = RECIPES[name].before_search_ends()
    return next((n for n, r in RECIPES.items() if r == plain), name)


def _search(
    snn,
    recipe: Recipe,
    cfg: LatencyConfig,
    model,
    train: Split,
    out: Path,
    trained: list,
    progress: bool,
) -> None:
    """Run the recipe's search on the training set and leave the SNN at its best candidate."""
    T = (cfg.eq11_timesteps or cfg.timesteps) if recipe.search == "eq11" else cfg.target_timesteps
    shifted = snn.is_chain and recipe.delay == "layer" and recipe.bias_onset == "input"
    scfg = recipe.search_config(cfg.search, T, snn.depth if shifted else 0)
    out.mkdir(parents=True, exist_ok=True)
    fixed = search_images(train, scfg)
    ann_on_s = evaluate(model, fixed if fixed is not None else train)
    saved = read_search(out / "search.h5")["metrics"] if (out / "search.h5").is_file() else None
    if saved is not None:
        before = saved.get("ann_accuracy_on_search_images")
        if before != ann_on_s:
            raise UserError(
                f"{out} holds a search of another network (ANN {before} on its images, "
                f"{ann_on_s} here); use another output folder"
            )
    base = trained if recipe.thresholds != "percentile" else None
    evaluator = Evaluator(snn, train, scfg, ann_accuracy=ann_on_s, base_thresholds=base)
    log.info(
        "search %s: P=%d G=%d E=%d T=%d objective %s, readout delays 0-%d",
        recipe.search,
        scfg.population,
        scfg.generations,
        scfg.images,
        T,
        scfg.objective,
        scfg.readout_delays,
    )

    def generation_line(g) -> None:
        log.info(
            "search generation %d/%d: best cost %.4f, mean %.4f (%.0f s)",
            g.generation,
            scfg.generations,
            g.best_cost,
            g.mean_cost,
            g.seconds,
        )

    result = run_search(
        evaluator,
        vectorised_map(evaluator),
        state_path=out / "search_state.json",
        resume=True,
        progress=progress,
        on_generation=generation_line,
    )
    kept = {}
    if cfg.search_keep_start:
        # scored once for the recipes that share this search
        result = unless_beaten(evaluator, result, (saved or {}).get("start_cost"))
        kept = {"start_cost": result.start_cost, "kept_start": result.kept_start}
        log.info(
            "search: the unsearched start costs %.4f on the search images; %s",
            result.start_cost,
            "kept (the search did not beat it)" if result.kept_start else "the search's best",
        )
    write_search(
        out / "search.h5",
        config={
            "search": dataclasses.asdict(scfg),
            "recipe": dataclasses.asdict(recipe.before_search_ends()),
        },
        layers=list(snn.if_names),
        history=[dataclasses.asdict(g) for g in result.history],
        best={"candidate": result.best, "thresholds": result.best_thresholds},
        metrics={
            "best_cost": result.best_cost,
            "ann_accuracy_on_search_images": ann_on_s,
            **kept,
        },
    )


def _settings(cfg: LatencyConfig) -> dict:
    """``cfg`` but its recipes, as settings.json holds it."""
    settings = as_saved(cfg)
    settings.pop("recipes")
    return settings


def _same_settings(out: Path, cfg: LatencyConfig) -> None:
    """Record ``cfg`` (all but its recipes) in ``out``, or refuse a folder whose runs were
    made with other settings before any of them is touched (more recipes may join)."""
    settings = _settings(cfg)
    saved = out / "settings.json"
    if saved.is_file():
        before = with_defaults(json.loads(saved.read_text()), _settings(LatencyConfig()))
        if before != settings:
            raise UserError(
                f"{out} holds runs made with other settings ({changed_settings(before, settings)})"
                "; use another folder, or the same settings to keep its finished runs"
            )
    else:
        write_json(saved, settings)


def _prepare(
    snn: ConvertedSNN,
    recipe: Recipe,
    name: str,
    cfg: LatencyConfig,
    model: nn.Module,
    data: Dataset,
    batches: list,
    out: Path,
    trained: list,
    progress: bool,
) -> dict[str, int]:
    """The recipe's search and calibration on ``snn``, in place; its readout delays."""
    if recipe.search != "none":
        search_out = out / f"{searched_recipe(name)}_search"
        _search(snn, recipe, cfg, model, data.train, search_out, trained, progress)
    if recipe.calibration != "none":  # after the search: calibrated for its thresholds
        _calibrate(snn, recipe, batches, name)
    return _readout_delays(snn, recipe, cfg, model, data.train) if recipe.delayed else {}


def measure_latency(
    model: nn.Module,
    data: Dataset,
    cfg: LatencyConfig,
    out: str | Path,
    meta: dict | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> LatencyResult:
    """Run every recipe of ``cfg`` on the same test images and record each run in ``out``.

    A recipe whose finished record is already in ``out`` is read back (and where every run of
    it is, with its kept SNN and readout delays, nothing of it is searched, calibrated or
    chosen again), and an interrupted search resumes from its saved state, so an interrupted
    job loses at most one run.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _same_settings(out, cfg)
    test, test_indices = seeded_subset(data.test, cfg.test_images, cfg.seed)
    calib = data.train.random_subset(min(cfg.calib_images, len(data.train)), cfg.seed)
    batches = [x for x, _ in calib.batches(256)]
    shape = (data.in_channels, data.input_size, data.input_size)
    ann = evaluate(model, test)
    meta = {**(meta or {}), "ann_accuracy": ann, "test_images": len(test)}
    meta["test_indices"] = test_indices
    report = LatencyResult(ann, 0, None)
    snns: dict[tuple, ConvertedSNN] = {}
    trained: dict[tuple, list[float]] = {}  # thresholds at conversion (QCFS's λ where trained)
    qcfs = [isinstance(n.activation, QCFS) for n in ann_graph(model, shape).nodes[:-1]]
    names = cfg.recipes or tuple(n for n, r in RECIPES.items() if r.applies_to(qcfs))
    for name in names:
        if not RECIPES[name].applies_to(qcfs):
            raise UserError(
                f"recipe {name}: trained thresholds need a QCFS network, channel-wise and "
                "balanced ones a ReLU network"
            )
    order = sorted(names, key=lambda r: r != BASELINE)  # the baseline first: its target
    for name in order:
        recipe = RECIPES[name]
        key = (recipe.percentile_of, recipe.channelwise, recipe.thresholds)
        if recipe.calibration != "none":
            key = (*key, name)  # its biases move: an SNN of its own
        if key not in snns:
            snns[key] = recipe.convert(model, batches, shape, device)
            trained[key] = list(snns[key].thresholds)
            if not recipe.channelwise:
                report.zero_fractions = {
                    n: h.zero_fraction for n, h in snns[key].calibration.items()
                }
        snn = snns[key]
        recipe.set_on(snn, trained[key])
        report.depth = snn.depth
        T = cfg.timesteps * (cfg.long_horizon if name == BASELINE else 1)
        finished = _finished(out, name, recipe, snn.is_chain, T, len(test), cfg, meta)
        if finished is not None:
            snn, k = finished
            log.info("%s: every run finished; its SNN and readout delays read back", name)
        else:
            k = _prepare(snn, recipe, name, cfg, model, data, batches, out, trained[key], progress)
        log.info("%s: simulating %d test images for T=%d", name, len(test), T)
        run = _simulate_to(
            out / f"{name}.h5", snn, test, T, recipe, meta, cfg, progress, k.get(recipe.delay, 0)
        )
        kept = out / f"{name}.snn.h5"
        if not kept.is_file():  # the recipe's SNN, to keep
            source = {
                "checkpoint": meta.get("checkpoint"),
                "dataset": meta.get("dataset", data.name),
                "made_by": "neurosnn.jobs.latency",
                "recipe": name,
                "mean": list(data.mean),
                "std": list(data.std),
                "ann_accuracy": ann,
                "simulation": {"delay": recipe.delay, "bias_onset": recipe.bias_onset},
            }
            if k:  # the delayed readout's k for each counting
                source["simulation"]["readout_after"] = k
            if recipe.presim:  # how the SNN is run: SRP's pre-simulation
                source["simulation"]["presim"] = recipe.presim
            if hasattr(model, "spec"):
                source["network"] = dataclasses.asdict(model.spec)
            save_snn(kept, snn, source)
        accuracy = np.asarray(run.accuracy)
        if name == BASELINE:
            report.long_target = float(accuracy[-1])
        metrics = latency_report(accuracy[: cfg.timesteps], ann, report.long_target)
        metrics["spikes_per_image"] = _spikes_per_image(run, cfg.timesteps)
        if name == BASELINE:  # within its long run too: the latency the recipes are held to
            metrics["long_horizon"] = T
            metrics["accuracy_at_long_horizon"] = report.long_target
            for key, value in latency_report(accuracy, ann).items():
                if key.startswith("steps_to"):
                    metrics[f"{key}_within_long_horizon"] = value
        if recipe.delay == "layer" and snn.is_chain and recipe.bias_onset == "input":
            # the undelayed run shifted by the depth, exactly (tests/test_latency_modes.py)
            steps = metrics["steps_to_ann_minus_1pct"]
            metrics["steps_to_ann_minus_1pct_delay_none"] = (
                None if steps is None else steps - report.depth
            )
        elif recipe.delay == "layer" and not snn.is_chain:
            # in a graph a shortcut arrives before the main path: no shift gives the field's
            # count (no delay), so it is simulated
            undelayed = _undelayed(recipe)
            path = out / f"{name}.delay-none.h5"
            log.info(
                "%s: simulating %d test images for T=%d without the layer delay",
                name,
                len(test),
                cfg.timesteps,
            )
            plain = _simulate_to(
                path, snn, test, cfg.timesteps, undelayed, meta, cfg, progress, k.get("none", 0)
            )
            steps = latency_report(np.asarray(plain.accuracy)[: cfg.timesteps], ann)
            metrics["steps_to_ann_minus_1pct_delay_none"] = steps["steps_to_ann_minus_1pct"]
        elif recipe.delay == "none":  # run as the field counts: no count with the layer delay
            metrics["steps_to_ann_minus_1pct_delay_none"] = metrics["steps_to_ann_minus_1pct"]
        for counting, value in k.items():
            metrics[f"readout_after_delay_{counting}"] = value
        report.results.append(
            RecipeResult(name, metrics, list(snn.thresholds), list(snn.phi), out / f"{name}.h5")
        )
        log.info("%s: %s", name, _one_line(metrics))
    return report


def _one_line(metrics: dict[str, Any]) -> str:
    return (
        f"ANN-1% at step {metrics['steps_to_ann_minus_1pct']}, "
        f"ANN-2% at {metrics['steps_to_ann_minus_2pct']}, "
        f"accuracy at T {100 * metrics['accuracy_at_T']:.2f}%"
    )


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
