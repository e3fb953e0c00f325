"""The main job, end to end on Fashion-MNIST in a few minutes on a 2-core CPU:
train (or reuse) a small VGG9, convert it to a BindsNET SNN at the 99.7 percentile, simulate
it on test images, run a quick differential-evolution search of the per-layer thresholds,
compare both on the test set, write the HDF5 records, the plots and summary.json, and print
a summary.

    python -m experiments.quickstart --out runs/quickstart
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from experiments.common import add_device_arg, load_data, write_json
from experiments.convert import ConvertConfig, run_conversion, summarise
from experiments.train_ann import DATASET_OPTIONS
from neurosnn.checkpoint import CHECKPOINT_NAME


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments.quickstart",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/quickstart", help="run folder (default: %(default)s)")
    p.add_argument(
        "--data-root",
        default=None,
        help="Fashion-MNIST IDX folder (default: the Debian package's, else the "
        "subset shipped in data/)",
    )
    p.add_argument("--epochs", type=int, default=2, help="ANN epochs (default: %(default)s)")
    p.add_argument(
        "--train-images",
        type=int,
        default=20000,
        help="training images for the ANN (default: %(default)s)",
    )
    p.add_argument(
        "--test-images", type=int, default=1000, help="test images simulated (default: %(default)s)"
    )
    p.add_argument("--timesteps", type=int, default=100, help="T (default: %(default)s)")
    p.add_argument(
        "--percentile",
        type=float,
        default=99.7,
        help="threshold percentile of every layer (default: %(default)s)",
    )
    p.add_argument(
        "--retrain", action="store_true", help="train again even if OUT/ann/checkpoint.pt exists"
    )
    add_device_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    start = time.perf_counter()
    ann_dir = out / "ann"
    if args.retrain or not (ann_dir / CHECKPOINT_NAME).is_file():
        import torch

        from networks import create_network
        from neurosnn.train import TrainConfig, train_ann

        data = load_data("fashion-mnist", args.data_root, allow_subset=True)
        n_train = min(args.train_images, len(data.train))
        data = dataclasses.replace(data, train=data.train.random_subset(n_train, 0))
        torch.manual_seed(0)
        model = create_network(
            "vgg9",
            data.num_classes,
            data.in_channels,
            data.input_size,
            **DATASET_OPTIONS["fashion-mnist"],
        )
        print(
            f"[1/5] training vgg9 {DATASET_OPTIONS['fashion-mnist']} on {n_train} images, "
            f"{args.epochs} epochs"
        )
        train_ann(
            model,
            data,
            TrainConfig(epochs=args.epochs),
            out_dir=ann_dir,
            device=args.device,
            progress=not args.no_progress,
        )
    else:
        print(f"[1/5] reusing the trained ANN in {ann_dir} (--retrain to train again)")
    print(
        f"[2/5] converting at the {args.percentile} percentile and simulating "
        f"{args.test_images} test images for T={args.timesteps}"
    )
    cfg = ConvertConfig(
        checkpoint=str(ann_dir),
        percentile=args.percentile,
        timesteps=args.timesteps,
        test_images=args.test_images,
        data_root=args.data_root,
        device=args.device,
    )
    record = out / "convert.h5"
    result, meta = run_conversion(cfg, record, progress=not args.no_progress, allow_subset=True)
    print(f"[3/5] plotting into {out / 'plots'}")
    from analysis.plot import plot_run
    from experiments.neuroevolve import EvalConfig, run_neuroevolution
    from neurosnn.evolve import PRESETS

    plots = plot_run(record, out / "plots")
    summary = summarise(result, meta["ann_accuracy"])
    scfg = PRESETS["quick"]
    print(
        f"[4/5] threshold search (preset quick: P={scfg.population}, G={scfg.generations}, "
        f"E={scfg.images}, T={scfg.timesteps}) and test-set comparison in {out / 'ne'}"
    )
    ecfg = EvalConfig(
        checkpoint=str(ann_dir),
        test_images=args.test_images,
        data_root=args.data_root,
        device=args.device,
    )
    ne = run_neuroevolution(
        scfg, ecfg, out / "ne", progress=not args.no_progress, allow_subset=True
    )
    keys = (
        "latency_improvement",
        "baseline_final_accuracy",
        "optimized_final_accuracy",
        "thresholds_percentile",
        "nfe",
        "training_cost",
        "search_seconds",
        "iso_time_accuracy_gain",
    )
    summary.update(
        record=str(record),
        plots=[str(p) for p in plots] + ne["plots"],
        threshold_search={k: ne[k] for k in keys},
        wall_seconds=time.perf_counter() - start,
    )
    write_json(out / "summary.json", summary)
    imp = ne["latency_improvement"]
    print(f"[5/5] summary in {out / 'summary.json'}")
    print(f"  ANN test accuracy          {summary['ann_accuracy']:.4f}")
    print(f"  SNN accuracy at T={args.timesteps:<4}     {summary['snn_final_accuracy']:.4f}")
    print(f"  steps to ANN - 1%          {summary['steps_to_ann_minus_1pct']}")
    print(
        f"  threshold search, T={scfg.timesteps}: final accuracy "
        f"{ne['baseline_final_accuracy']:.4f} (uniform) -> "
        f"{ne['optimized_final_accuracy']:.4f} (optimised)"
    )
    print(
        f"  iso-accuracy latency improvement "
        f"{'n/a' if imp is None else f'{100 * imp:.1f}%'} (steps "
        f"{ne['baseline_steps_to_target']} -> {ne['optimized_steps_to_target']})"
    )
    print(f"  total time                 {summary['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
