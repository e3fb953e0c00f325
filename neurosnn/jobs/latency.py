"""How many timesteps does each recipe need to reach its ANN's accuracy?

``measure_latency`` runs recipes (``neurosnn.config.recipe``: percentiles, φ, channel-wise,
trained or balanced thresholds, bias onset, the searches, Li et al.'s calibrations, delayed
readout, SRP) on the same test images and reports, per recipe, the steps to ANN − 1% / − 2%
and to the baseline's accuracy at a long horizon, the accuracy at fixed steps and the spikes
per image; each run is an ordinary HDF5 run record, and each recipe's SNN is kept as a file.
A recipe's search, calibration and readout delay are prepared by ``neurosnn.jobs.prepare``.
The steps are counted with the layer delay (Lu & Sengupta's counting) and without it (the
field's): for a chain the second is exact arithmetic on the first where the onset gates the
bias; for a graph, whose shortcuts arrive before the main path, every recipe is simulated once
more without the delay.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from neurosnn.config.latency import LatencyConfig
from neurosnn.config.recipe import BASELINE, RECIPES, SEARCH, Recipe, sized_search
from neurosnn.conversion.pipeline import ann_graph
from neurosnn.errors import UserError
from neurosnn.io.data import Dataset, Split, seeded_subset
from neurosnn.io.output import as_saved, changed_settings, with_defaults, write_json
from neurosnn.io.record import RunWriter, read_run
from neurosnn.io.snnfile import load_snn, save_snn
from neurosnn.jobs import prepare
from neurosnn.jobs.latency_table import LatencyResult, RecipeResult, aggregate
from neurosnn.learn.train import evaluate
from neurosnn.networks.blocks import QCFS
from neurosnn.simulation.curve import latency_report
from neurosnn.simulation.run import SimResult, simulate
from neurosnn.snn.network import ConvertedSNN

log = logging.getLogger(__name__)
__all__ = [  # the grammar and the table live apart; their names stay importable from here
    "BASELINE",
    "RECIPES",
    "SEARCH",
    "LatencyConfig",
    "LatencyResult",
    "Recipe",
    "RecipeResult",
    "aggregate",
    "measure_latency",
    "sized_search",
]


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


def _settings(cfg: LatencyConfig) -> dict:
    """``cfg`` but its recipes, as settings.json holds it."""
    settings = as_saved(cfg)
    settings.pop("recipes")
    return settings


def same_settings(out: Path, cfg: LatencyConfig) -> None:
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


def recipes_for(model: nn.Module, shape: tuple[int, ...], cfg: LatencyConfig) -> list[Recipe]:
    """The recipes ``cfg`` runs on ``model`` (by default every named one that applies to it);
    one that cannot apply is one line."""
    qcfs = [isinstance(n.activation, QCFS) for n in ann_graph(model, shape).nodes[:-1]]
    recipes = cfg.parsed or [r for r in RECIPES.values() if r.applies_to(qcfs)]
    for recipe in recipes:
        if not recipe.applies_to(qcfs):
            raise UserError(
                f"recipe {recipe.name}: trained thresholds need a QCFS network, channel-wise and "
                "balanced ones a ReLU network"
            )
    return recipes


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
    same_settings(out, cfg)
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
    recipes = recipes_for(model, shape, cfg)
    order = sorted(recipes, key=lambda r: r.name != BASELINE)  # the baseline first: its target
    for recipe in order:
        name = recipe.name
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
            k = prepare.prepare(
                snn,
                recipe,
                name,
                cfg.preparation,
                model,
                data,
                batches,
                out,
                trained[key],
                progress,
            )
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
