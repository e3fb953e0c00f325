"""Tune one threshold per layer with differential evolution (Lu & Sengupta) and compare the
result with the uniform-percentile baseline on the test set.

    python -m experiments.neuroevolve --preset fashion-mnist --checkpoint runs/fmnist_vgg9 \
        --out runs/fmnist_vgg9/ne

Writes OUT/search.h5 (history, thresholds, metrics, PCA significance), OUT/baseline.h5 and
OUT/optimized.h5 (test-set runs, readable by analysis.inspect/plot), OUT/plots/*.png,
OUT/optimized.snn.h5 (the tuned SNN: neurosnn.snnfile.load_snn, experiments.convert --snn),
OUT/search_state.json (for --resume), OUT/summary.json (with every setting) and OUT/search.log
(the settings and a line per generation, also printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import (
    add_data_args,
    add_device_arg,
    claim_output,
    load_checkpoint_and_data,
    setup_logging,
    snn_source,
    write_json,
)
from neurosnn.checkpoint import resolve
from neurosnn.cost import compare_latency, iso_time_gain
from neurosnn.data import seeded_subset
from neurosnn.engine import BIAS_ONSETS, DELAYS
from neurosnn.evolve import OBJECTIVES, PRESETS, SUBSETS, SearchConfig
from neurosnn.output import one_line_errors
from neurosnn.snn import PERCENTILE_OF

log = logging.getLogger("neurosnn.neuroevolve")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How the search's result is evaluated (test set, PCA) and where it runs."""

    checkpoint: str
    test_images: int | None = 2000
    timesteps: int | None = None  # default: the search's T
    target_accuracy: float | None = None
    iso_time: int | None = None  # default: T // 2
    calib_images: int = 2000
    pca_images: int = 256
    workers: int = 1
    ray_address: str | None = None  # "local" starts a local Ray cluster
    record_spikes: int = 8
    data_root: str | None = None
    device: str = "cpu"
    long_horizon: int = 3  # the baseline also runs to this many times T: the long target

    def __post_init__(self) -> None:
        for name, least in (
            ("test_images", 1),
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
                raise ValueError(f"{name} must be >= {least}, got {value}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must be in (0, 1], got {self.target_accuracy}")


def _map_fn(evaluator, ecfg: EvalConfig):
    """Ray or a process pool when asked for; otherwise each generation as one grouped
    simulation on this device (the same costs as scoring candidates one by one)."""
    from neurosnn.evolve import process_pool_map, ray_pool_map, vectorised_map

    if ecfg.ray_address is not None:
        address = None if ecfg.ray_address == "local" else ecfg.ray_address
        return ray_pool_map(evaluator, max(ecfg.workers, 1), address)
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
    from neurosnn.record import RunWriter
    from neurosnn.simulate import simulate

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


def prepare(scfg: SearchConfig, ecfg: EvalConfig, allow_subset: bool = False) -> Prepared:
    """Load the checkpoint and its data, convert at the search's initial percentile (calibrated
    on ``calib_images`` training images)."""
    from neurosnn.convert import convert

    ckpt, data = load_checkpoint_and_data(ecfg.checkpoint, ecfg.data_root, allow_subset)
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
    scfg: SearchConfig,
    ecfg: EvalConfig,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    allow_subset: bool = False,
    prepared: Prepared | None = None,
    splits: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """The whole experiment; returns the summary (also written to OUT/summary.json).

    ``splits`` replaces ``(training split searched on, test split)`` (the adversarial experiment
    passes FGSM versions); the SNN of ``prepared`` is left at the optimised thresholds.
    """
    from analysis.neuroevolution import plot_search
    from neurosnn.cost import latency_report
    from neurosnn.evolve import Evaluator, run_search, search_images, search_training_cost
    from neurosnn.record import write_search
    from neurosnn.significance import correlation, layer_significance
    from neurosnn.snnfile import save_snn
    from neurosnn.train import evaluate

    start = time.perf_counter()
    prepared = prepared or prepare(scfg, ecfg, allow_subset)
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
    source = snn_source(
        ecfg.checkpoint,
        ckpt,
        "experiments.neuroevolve",
        search=str(out),
        simulation=timing(scfg),
    )
    save_snn(out / "optimized.snn.h5", snn, model, source)

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
    metrics["plots"] = [str(p) for p in plot_search(out, out / "plots")]
    metrics["wall_seconds"] = time.perf_counter() - start
    write_json(out / "summary.json", metrics)
    return metrics


def build_parser(
    prog: str = "python -m experiments.neuroevolve",
    description: str | None = __doc__,
    preset: str = "fashion-mnist",
) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--preset",
        default=preset,
        choices=sorted(PRESETS),
        help="hyper-parameters (Table I of the paper, or fashion-mnist / quick); "
        "the options below override single values (default: %(default)s)",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt or its run folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted search from OUT/search_state.json",
    )
    for name, kind, what in (
        ("alpha", float, "weight of J, the step of steepest accuracy rise (Eq. 11)"),
        ("beta", float, "weight of 1 - max accuracy gradient (Eq. 11)"),
        ("gamma", float, "weight of 1 - final accuracy (Eq. 11)"),
        ("initial-percentile", float, "baseline percentile TH"),
        ("std", float, "std of the initial population around TH"),
        ("population", int, "population size P (>= 5)"),
        ("generations", int, "most generations G"),
        ("images", int, "training images per evaluation E"),
        ("timesteps", int, "timesteps T per evaluation"),
        ("lower", float, "lower bound of the search (default TH - 10 std, or 0.5 for scale)"),
        ("upper", float, "upper bound (default 100, or 1.5 for scale)"),
        ("tol", float, "SciPy's relative convergence tolerance"),
        ("seed", int, "seed of the population, DE and the training subsets"),
    ):
        p.add_argument(f"--{name}", type=kind, default=None, help=what)
    p.add_argument(
        "--parameterisation",
        choices=("percentile", "scale"),
        default=None,
        help="search percentiles (paper) or scales of the baseline thresholds",
    )
    p.add_argument(
        "--subset",
        choices=SUBSETS,
        default=None,
        help="score every candidate on one mini-dataset S drawn before the first generation "
        "(fixed, Algorithm 1) or on images drawn for each candidate (default: fixed)",
    )
    p.add_argument(
        "--percentile-of",
        choices=PERCENTILE_OF,
        default=None,
        help="percentiles over all of a layer's ReLU outputs, zeros included (the authors' "
        "code: the paper's 99.7), or over the positive ones (Rueckauer) (default: all)",
    )
    p.add_argument(
        "--channelwise",
        action="store_const",
        const=True,
        default=None,
        help="one threshold per channel of every conv layer (folded into the weights)",
    )
    p.add_argument(
        "--phi",
        type=float,
        default=None,
        help="initial membrane potential phi*theta of every layer, phi in [0, 1) "
        "(0.5: Bu et al.'s half threshold; default 0)",
    )
    p.add_argument(
        "--delay",
        choices=DELAYS,
        default=None,
        help="one step of delay per layer (the paper's count) or none (default: layer)",
    )
    p.add_argument(
        "--bias-onset",
        choices=BIAS_ONSETS,
        default=None,
        help="each layer's bias from step 1 (always, bindsnet's) or withheld until its input "
        "can arrive (input) (default: always)",
    )
    p.add_argument(
        "--search-phi",
        action="store_const",
        const=True,
        default=None,
        help="search each layer's phi beside its threshold",
    )
    p.add_argument("--phi-std", type=float, default=None, help="std of the initial phi (0.15)")
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=None,
        help="Eq. 11 (alpha, beta, gamma), the steps to the ANN's accuracy on the search "
        "images minus --target-drop, or the accuracy deficit below that target summed over "
        "the steps (default: eq11)",
    )
    p.add_argument(
        "--target-drop",
        type=float,
        default=None,
        help="steps-to-target, deficit: how far below the ANN the target lies (default 0.01)",
    )
    p.add_argument(
        "--test-images",
        type=int,
        default=2000,
        help="test images for the baseline/optimised comparison (default: %(default)s; 0 = all)",
    )
    p.add_argument(
        "--eval-timesteps",
        type=int,
        default=None,
        help="T of the test-set comparison (default: the search's T)",
    )
    p.add_argument(
        "--target-accuracy",
        type=float,
        default=None,
        help="also report the latency improvement at this accuracy",
    )
    p.add_argument(
        "--long-horizon",
        type=int,
        default=3,
        help="the baseline also runs to this many times T; its accuracy there is the long "
        "latency target (default: %(default)s)",
    )
    p.add_argument(
        "--iso-time",
        type=int,
        default=None,
        help="timestep of the iso-time accuracy comparison (default: T/2)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that score candidates in parallel (default: %(default)s)",
    )
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="score candidates on a Ray cluster: 'local' or a cluster address "
        "(needs pip install neurosnn[distributed])",
    )
    add_data_args(p, dataset=False)
    add_device_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def configs(args: argparse.Namespace) -> tuple[SearchConfig, EvalConfig]:
    """The search and evaluation configs from parsed arguments (preset, then overrides)."""
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(SearchConfig)
        if getattr(args, f.name, None) is not None
    }
    try:
        scfg = dataclasses.replace(PRESETS[args.preset], **overrides)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    try:
        ecfg = EvalConfig(
            checkpoint=args.checkpoint,
            test_images=None if args.test_images == 0 else args.test_images,
            timesteps=args.eval_timesteps,
            target_accuracy=args.target_accuracy,
            iso_time=args.iso_time,
            long_horizon=args.long_horizon,
            workers=args.workers,
            ray_address=args.ray,
            data_root=args.data_root,
            device=args.device,
        )
    except ValueError as err:  # named as the command line names it
        field, _, rest = str(err).partition(" ")
        flag = "eval-timesteps" if field == "timesteps" else field.replace("_", "-")
        raise SystemExit(f"error: --{flag} {rest}") from err
    T = ecfg.timesteps or scfg.timesteps
    if ecfg.iso_time is not None and ecfg.iso_time > T:
        raise SystemExit(
            f"error: --iso-time must be <= T = {T} (the evaluation's), got {ecfg.iso_time}"
        )
    return scfg, ecfg


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    claim_output(args.out)
    scfg, ecfg = configs(args)
    setup_logging(Path(args.out) / "search.log")
    s = run_neuroevolution(scfg, ecfg, Path(args.out), args.resume, not args.no_progress)
    imp = s["latency_improvement"]
    print(
        f"baseline (uniform {scfg.initial_percentile} percentile): final accuracy "
        f"{s['baseline_final_accuracy']:.4f}; optimised: {s['optimized_final_accuracy']:.4f}"
    )
    print(
        f"iso-accuracy latency at {s['iso_accuracy_target']:.4f}: baseline step "
        f"{s['baseline_steps_to_target']}, optimised step {s['optimized_steps_to_target']}"
        f" → improvement {'n/a' if imp is None else f'{100 * imp:.1f}%'}"
    )
    b, o = s["baseline_latency"], s["optimized_latency"]
    print(
        f"steps to ANN - 1% ({100 * (s['ann_accuracy'] - 0.01):.2f}%): baseline "
        f"{b['steps_to_ann_minus_1pct']}, optimised {o['steps_to_ann_minus_1pct']}; to ANN - 2%: "
        f"{b['steps_to_ann_minus_2pct']}, {o['steps_to_ann_minus_2pct']}; to the baseline's "
        f"accuracy at t={s['long_horizon']} ({100 * s['baseline_accuracy_at_long_horizon']:.2f}%): "
        f"{b['steps_to_long_target']}, {o['steps_to_long_target']} (None: not within T)"
    )
    print(
        f"iso-time accuracy gain at t={s['iso_time_step']}: "
        f"{100 * s['iso_time_accuracy_gain']:+.2f} points"
    )
    print(f"thresholds (percentiles): {np.round(s['thresholds_percentile'] or [], 3).tolist()}")
    print(
        f"nfe {s['nfe']}, training cost {s['training_cost']:.3f}, search "
        f"{s['search_seconds']:.0f} s (median generation "
        f"{np.median(s['seconds_per_generation']):.1f} s); threshold-PCA correlation "
        f"{s['threshold_pca_correlation']:.2f}; summary in {args.out}/summary.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
