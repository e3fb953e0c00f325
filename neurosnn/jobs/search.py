"""The threshold search as a job (Lu & Sengupta): convert at a uniform percentile, tune one
threshold per layer with differential evolution, compare with the baseline on the test set,
explain the layers with PCA, keep the tuned SNN. Called by ``experiments.neuroevolve`` (and
the adversarial, BPTT and cost-noise experiments); it never parses a command line and never
prints: progress goes to tqdm and to ``logging`` (``"neurosnn.neuroevolve"``).

    ckpt = load_checkpoint("runs/fmnist_vgg9")
    data = with_normalisation(load_dataset(ckpt.dataset), ckpt.mean, ckpt.std)
    scfg, ecfg = PRESETS["fashion-mnist"], EvalConfig(checkpoint="runs/fmnist_vgg9")
    summary = run_neuroevolution(prepare(scfg, ecfg, ckpt, data), scfg, ecfg, Path("runs/ne"))

Writes OUT/search.h5, OUT/baseline.h5, OUT/optimized.h5, OUT/optimized.snn.h5,
OUT/search_state.json and OUT/summary.json.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neurosnn.config.search import EvalConfig, SearchConfig
from neurosnn.io.checkpoint import Checkpoint, resolve
from neurosnn.io.data import Dataset, seeded_subset
from neurosnn.io.output import write_json
from neurosnn.io.snnfile import source_of
from neurosnn.simulation.curve import compare_latency, iso_time_gain

log = logging.getLogger("neurosnn.neuroevolve")


def _map_fn(evaluator, ecfg: EvalConfig):
    """Ray or a process pool when asked for; otherwise each generation as one grouped
    simulation on this device (the same costs as scoring candidates one by one)."""
    from neurosnn.search.evaluate import process_pool_map, ray_pool_map, vectorised_map

    if ecfg.ray_address is not None:
        address = None if ecfg.ray_address == "local" else ecfg.ray_address
        return ray_pool_map(evaluator, max(ecfg.workers, 1), address, gpus=ecfg.gpus_per_task)
    if ecfg.workers > 1:
        return process_pool_map(evaluator, ecfg.workers)
    return vectorised_map(evaluator), None


def timing(scfg: SearchConfig) -> dict[str, str]:
    """The search's timing options, for every simulation of its SNN."""
    return {"delay": scfg.delay, "bias_onset": scfg.bias_onset}


def set_baseline(snn, scfg: SearchConfig) -> None:
    """The uniform-percentile SNN the search starts from: TH in every layer, the config's φ."""
    snn.set_percentiles(scfg.initial_percentile)
    snn.set_phi(scfg.phi)


def simulate_to(
    path: Path,
    snn,
    test,
    T: int,
    cfg: dict,
    ecfg: EvalConfig,
    meta: dict,
    scfg: SearchConfig | None = None,
):
    """Simulate ``test`` for T steps (with the timing of ``scfg``) and record it at ``path``."""
    from neurosnn.io.record import RunWriter
    from neurosnn.simulation.run import simulate

    with RunWriter(path, cfg) as writer:
        result = simulate(
            snn,
            test.batches(256),
            T,
            record_spikes=ecfg.record_spikes,
            spike_sink=writer.write_spikes,
            **(timing(scfg) if scfg is not None else {}),
        )
        writer.write_result(result, snn.percentiles, meta)
    return result


@dataclasses.dataclass
class Prepared:
    """What the search starts from: the checkpoint, its dataset, the ANN and its conversion."""

    ckpt: Any
    data: Any
    model: Any
    snn: Any


def prepare(scfg: SearchConfig, ecfg: EvalConfig, ckpt: Checkpoint, data: Dataset) -> Prepared:
    """Convert the checkpoint's ANN at the search's initial percentile (calibrated on
    ``calib_images`` training images of ``data``, normalised as the checkpoint was trained)."""
    from neurosnn.conversion.pipeline import convert

    model = ckpt.build()
    shape = (data.in_channels, data.input_size, data.input_size)
    calib = data.train.random_subset(min(ecfg.calib_images, len(data.train)), 0)
    snn = convert(
        model,
        (x for x, _ in calib.batches(256)),
        shape,
        scfg.initial_percentile,
        device=ecfg.device,
        percentile_of=scfg.percentile_of,
        channelwise=scfg.channelwise,
        phi=scfg.phi,
    )
    return Prepared(ckpt, data, model, snn)


def run_neuroevolution(
    prepared: Prepared,
    scfg: SearchConfig,
    ecfg: EvalConfig,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    splits: tuple[Any, Any] | None = None,
    on_generation: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """The whole experiment from ``prepare``'s conversion; returns the summary (also
    written to OUT/summary.json; the command adds its plots).

    ``splits`` replaces ``(training split searched on, test split)`` (the adversarial experiment
    passes FGSM versions); the SNN of ``prepared`` is left at the optimised thresholds.
    ``on_generation`` is called with each finished ``neurosnn.search.de.Generation``.
    """
    from neurosnn.io.record import write_search
    from neurosnn.io.snnfile import save_snn
    from neurosnn.learn.train import evaluate
    from neurosnn.measures.significance import correlation, layer_significance
    from neurosnn.search.de import run_search, search_training_cost
    from neurosnn.search.evaluate import Evaluator, search_images
    from neurosnn.simulation.curve import latency_report

    start = time.perf_counter()
    ckpt, data, model, snn = prepared.ckpt, prepared.data, prepared.model, prepared.snn
    search_split, test = splits or (data.train, data.test)
    out.mkdir(parents=True, exist_ok=True)

    fixed = search_images(search_split, scfg)
    ann_on_search = evaluate(model, fixed if fixed is not None else search_split)
    evaluator = Evaluator(snn, search_split, scfg, ann_accuracy=ann_on_search)
    map_fn, pool = _map_fn(evaluator, ecfg)
    log.info(
        "search: P=%d G=%d E=%d T=%d objective %s (alpha %g, beta %g, gamma %g), subset %s, "
        "percentile_of %s, phi %g%s, bias onset %s; ANN on the search images %.4f",
        scfg.population,
        scfg.generations,
        scfg.images,
        scfg.timesteps,
        scfg.objective,
        scfg.alpha,
        scfg.beta,
        scfg.gamma,
        scfg.subset,
        scfg.percentile_of,
        scfg.phi,
        " (searched)" if scfg.search_phi else "",
        scfg.bias_onset,
        ann_on_search,
    )

    def generation_line(g) -> None:
        log.info(
            "generation %d/%d: best cost %.4f, mean %.4f (%.0f s)",
            g.generation,
            scfg.generations,
            g.best_cost,
            g.mean_cost,
            g.seconds,
        )
        if on_generation is not None:
            on_generation(g)

    try:
        search = run_search(
            evaluator, map_fn, out / "search_state.json", resume, progress, generation_line
        )
    finally:
        if pool is not None:
            pool.terminate()

    test, test_indices = seeded_subset(test, ecfg.test_images, 0)
    T = ecfg.timesteps or scfg.timesteps
    meta = {
        "checkpoint": str(resolve(ecfg.checkpoint)),
        "network": dataclasses.asdict(ckpt.spec),
        "dataset": ckpt.dataset,
        "ann_accuracy": evaluate(model, test),
        "test_images": len(test),
        "test_indices": test_indices,
    }
    run_cfg = {"search": dataclasses.asdict(scfg), "eval": dataclasses.asdict(ecfg)}
    set_baseline(snn, scfg)
    baseline_thresholds = snn.thresholds
    long_T = T * ecfg.long_horizon
    log.info(
        "search done (%d generations%s); simulating %d test images: the baseline for T=%d, "
        "the optimised thresholds for T=%d",
        search.generations,
        ", converged" if search.converged else "",
        len(test),
        long_T,
        T,
    )
    base = simulate_to(out / "baseline.h5", snn, test, long_T, run_cfg, ecfg, meta, scfg)
    evaluator.apply(np.asarray(search.best))
    opt = simulate_to(out / "optimized.h5", snn, test, T, run_cfg, ecfg, meta, scfg)
    source = source_of(
        ecfg.checkpoint,
        ckpt,
        "neurosnn.jobs.search",
        search=str(out),
        simulation=timing(scfg),
    )
    save_snn(out / "optimized.snn.h5", snn, source)

    # the baseline's curve up to T is the same run's first T steps
    base_acc, opt_acc = base.accuracy.numpy()[:T], opt.accuracy.numpy()
    long_target = float(base.accuracy[-1])
    ann_accuracy = meta["ann_accuracy"]
    iso = compare_latency(base_acc, opt_acc)
    iso_time = ecfg.iso_time or T // 2
    log.info("PCA of the layers on %d training images", min(ecfg.pca_images, len(data.train)))
    significance = layer_significance(
        snn,
        (
            x
            for x, _ in data.train.random_subset(min(ecfg.pca_images, len(data.train)), 1).batches(
                128
            )
        ),
    )
    change = significance.percent_change
    metrics: dict[str, Any] = {
        "settings": run_cfg,
        "latency_improvement": iso.improvement,
        "iso_accuracy_target": iso.target,
        "baseline_steps_to_target": iso.baseline_step,
        "optimized_steps_to_target": iso.optimized_step,
        "baseline_final_accuracy": float(base_acc[-1]),
        "optimized_final_accuracy": float(opt_acc[-1]),
        "ann_accuracy": meta["ann_accuracy"],
        "iso_time_step": iso_time,
        "iso_time_accuracy_gain": iso_time_gain(base_acc, opt_acc, iso_time),
        "thresholds_percentile": (
            search.best[: len(snn.if_names)] if scfg.parameterisation == "percentile" else None
        ),
        "thresholds_scale": (
            search.best[: len(snn.if_names)] if scfg.parameterisation == "scale" else None
        ),
        "thresholds": search.best_thresholds,
        "baseline_thresholds": baseline_thresholds,
        "layers": list(snn.if_names),
        "baseline_spikes_per_image": {
            k: float(v[:T].sum()) / base.n_images for k, v in base.spike_counts.items()
        },
        "optimized_spikes_per_image": {
            k: float(v.sum()) / opt.n_images for k, v in opt.spike_counts.items()
        },
        "phi": search.best_phi,
        "baseline_phi": scfg.phi,
        "percentile_of": scfg.percentile_of,
        "channelwise": scfg.channelwise,
        "delay": scfg.delay,
        "bias_onset": scfg.bias_onset,
        "subset": scfg.subset,
        "objective": scfg.objective,
        "ann_accuracy_on_search_images": ann_on_search,
        "long_horizon": long_T,
        "baseline_accuracy_at_long_horizon": long_target,
        "baseline_latency": latency_report(base_acc, ann_accuracy, long_target),
        "optimized_latency": latency_report(opt_acc, ann_accuracy, long_target),
        "best_cost": search.best_cost,
        "generations": search.generations,
        "converged": search.converged,
        "nfe": search.nfe(scfg.population),
        "evaluations": search.evaluations,
        "training_cost": search_training_cost(search, scfg, len(search_split)),
        "search_seconds": search.wall_seconds,
        # the initial population's scoring is in the first generation's time
        "seconds_per_generation": [g.seconds for g in search.history],
        "pca_components": significance.components,
        "pca_percent_change": change,
        "threshold_pca_correlation": correlation(search.best[: len(snn.if_names)], change),
        "test_images": len(test),
        "timesteps": T,
    }
    if ecfg.target_accuracy is not None:
        user = compare_latency(base_acc, opt_acc, ecfg.target_accuracy)
        metrics.update(
            target_accuracy=ecfg.target_accuracy,
            target_latency_improvement=user.improvement,
            target_baseline_steps=user.baseline_step,
            target_optimized_steps=user.optimized_step,
        )
    best = {
        "candidate": search.best,
        "thresholds": search.best_thresholds,
        "phi": search.best_phi,
        "baseline_thresholds": baseline_thresholds,
    }
    write_search(
        out / "search.h5",
        config=run_cfg,
        layers=list(snn.if_names),
        history=[dataclasses.asdict(g) for g in search.history],
        best=best,
        metrics=metrics,
        significance={"components": significance.components, "percent_change": change},
    )
    metrics["wall_seconds"] = time.perf_counter() - start
    write_json(out / "summary.json", metrics)
    return metrics
