"""A recipe made real on a converted SNN: its threshold search (kept in a folder of its own,
resumable, shared by the recipes that differ only in what follows it), Li et al.'s calibration
after it, and the delayed readout's k chosen on training images. The latency job and
``convert --recipe`` prepare a recipe's SNN with these."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurosnn.config.recipe import Preparation, Recipe
from neurosnn.conversion.biascal import calibrate_biases, calibrate_potentials
from neurosnn.conversion.weightcal import calibrate_weights
from neurosnn.errors import UserError
from neurosnn.io.data import Dataset, Split
from neurosnn.io.record import read_search, write_search
from neurosnn.learn.train import evaluate
from neurosnn.search.de import run_search, unless_beaten
from neurosnn.search.evaluate import Evaluator, search_images, vectorised_map
from neurosnn.simulation.delayed import choose_readout_after
from neurosnn.snn.network import ConvertedSNN

log = logging.getLogger(__name__)
WEIGHT_CALIBRATION_IMAGES = 1024
WEIGHT_CALIBRATION: dict[str, Any] = {}  # calibrate_weights' defaults: the authors' ImageNet


def calibrate_recipe(snn: ConvertedSNN, recipe: Recipe, batches: list, name: str) -> None:
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


def readout_delays(snn, recipe: Recipe, cfg: Preparation, model, train: Split) -> dict:
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


def search_folder(recipe: Recipe) -> str:
    """The name of the folder of the search ``recipe`` runs: that of the recipe without what
    follows its search (``Recipe.before_search_ends``: the calibration, and the delayed readout
    unless the search scores it), so that such recipes share one search and its result."""
    return f"{recipe.before_search_ends().name}_search"


def searched_recipe(name: str) -> str:
    """The name of the recipe whose search the recipe ``name`` runs."""
    return search_folder(Recipe.parse(name)).removesuffix("_search")


def search_recipe(
    snn,
    recipe: Recipe,
    cfg: Preparation,
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


def prepare(
    snn: ConvertedSNN,
    recipe: Recipe,
    name: str,
    cfg: Preparation,
    model: nn.Module,
    data: Dataset,
    batches: list,
    out: Path,
    trained: list,
    progress: bool,
) -> dict[str, int]:
    """The recipe's search and calibration on ``snn``, in place; its readout delays."""
    if recipe.search != "none":
        search_out = out / search_folder(recipe)
        search_recipe(snn, recipe, cfg, model, data.train, search_out, trained, progress)
    if recipe.calibration != "none":  # after the search: calibrated for its thresholds
        calibrate_recipe(snn, recipe, batches, name)
    return readout_delays(snn, recipe, cfg, model, data.train) if recipe.delayed else {}
