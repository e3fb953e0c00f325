"""The main job, end to end on Fashion-MNIST in a few minutes on a 2-core CPU: train (or
reuse) a small VGG9, convert it to a BindsNET SNN at the 99.7 percentile of all its layers'
outputs (Lu & Sengupta's baseline), run the paper's threshold search (differential evolution,
Eq. 11, one fixed mini-dataset S) and the low-latency recipe (half-threshold initial
potential, biases withheld until each layer's input arrives), simulate the same test images
under each, and report how many timesteps each needs to come within 1% of the ANN — counted
as the paper counts, one step of delay per layer.

    python -m experiments.quickstart --out runs/quickstart

Writes OUT/ann/checkpoint.pt, OUT/latency/{all,all+search,phi+onset}.h5 (run records: accuracy
per step, spike counts, spike trains of 4 images), OUT/latency/all+search_search/ (the
search), OUT/plots/*.png (accuracy vs time, layer activity and a raster of the baseline; the
latency–accuracy frontier and accuracy curves of all three), each recipe's SNN as
OUT/latency/RECIPE.snn.h5 and as NIR in OUT/latency/RECIPE.nir, and OUT/summary.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

from neurosnn.experiments.common import (
    add_device_arg,
    add_out_arg,
    add_progress_arg,
    claim_output,
    load_checkpoint_and_data,
    load_data,
    new_parser,
)
from neurosnn.io.checkpoint import CHECKPOINT_NAME
from neurosnn.io.output import one_line_errors, write_json
from neurosnn.learn.train import DATASET_OPTIONS

RECIPES = ("all", "all+search", "phi+onset")
UPDATES = 40_000  # image presentations of the default training (2 epochs of 20,000 images)


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("python -m experiments.quickstart", __doc__)
    add_out_arg(p, "run folder", "runs/quickstart")
    p.add_argument(
        "--data-root",
        default=None,
        help="Fashion-MNIST IDX folder (default: the Debian package's, else the "
        "subset shipped in data/)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="ANN epochs (default: as many as make 40,000 image presentations: 2 over the "
        "20,000 images drawn from Debian's data set, 10 over the 4,000 of the shipped subset, "
        "so the ANN sees as many updates either way)",
    )
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
        "--population", type=int, default=6, help="search population P (default: %(default)s)"
    )
    p.add_argument(
        "--generations", type=int, default=3, help="search generations G (default: %(default)s)"
    )
    p.add_argument(
        "--images", type=int, default=200, help="search images E in S (default: %(default)s)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the ANN's training (its initial weights, its images, their order); the "
        "test images and the search stay the same (default: %(default)s)",
    )
    p.add_argument(
        "--retrain", action="store_true", help="train again even if OUT/ann/checkpoint.pt exists"
    )
    add_device_arg(p)
    add_progress_arg(p)
    return p


def default_epochs(n_train: int) -> int:
    """Epochs that present about ``UPDATES`` images: the same training on any data size."""
    return max(1, round(UPDATES / n_train))


def _train(args, ann_dir: Path) -> None:
    import torch

    from neurosnn.io.data import split_fingerprint
    from neurosnn.learn.train import TrainConfig, train_ann
    from neurosnn.networks import create_network

    data = load_data("fashion-mnist", args.data_root, allow_subset=True)
    n_train = min(args.train_images, len(data.train))
    epochs = args.epochs or default_epochs(n_train)
    train_print = split_fingerprint(data.train)  # the whole split, before the subset
    data = dataclasses.replace(data, train=data.train.random_subset(n_train, args.seed))
    torch.manual_seed(args.seed)
    options = DATASET_OPTIONS["fashion-mnist"]
    model = create_network("vgg9", data.num_classes, data.in_channels, data.input_size, **options)
    print(f"[1/4] training vgg9 {options} on {n_train} images, {epochs} epochs")
    train_ann(
        model,
        data,
        TrainConfig(epochs=epochs, seed=args.seed),
        out_dir=ann_dir,
        device=args.device,
        progress=not args.no_progress,
        train_fingerprint=train_print,
    )


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    start = time.perf_counter()
    ann_dir = out / "ann"
    if args.retrain or not (ann_dir / CHECKPOINT_NAME).is_file():
        _train(args, ann_dir)
    else:
        from neurosnn.io.checkpoint import load_checkpoint

        trained = (load_checkpoint(ann_dir).config or {}).get("seed", 0)
        if trained != args.seed:
            raise SystemExit(
                f"error: {ann_dir} was trained with --seed {trained}, not {args.seed}: pass "
                "--retrain, or another --out"
            )
        print(f"[1/4] reusing the trained ANN in {ann_dir} (--retrain to train again)")

    from neurosnn.analysis.latency import plot_latency
    from neurosnn.analysis.plot import plot_run
    from neurosnn.jobs.latency import LatencyConfig, measure_latency, sized_search

    ckpt, data = load_checkpoint_and_data(str(ann_dir), args.data_root, allow_subset=True)
    cfg = LatencyConfig(
        recipes=RECIPES,
        timesteps=args.timesteps,
        long_horizon=1,
        test_images=args.test_images,
        search=sized_search(args.population, args.generations, args.images),
    )
    s = cfg.search
    print(
        "[2/4] converting at the 99.7 percentile of all outputs; threshold search "
        f"(P={s.population}, G={s.generations}, E={s.images}, T={cfg.timesteps}, Eq. 11, "
        "fixed S); simulating "
        f"{cfg.test_images} test images for T={cfg.timesteps} under {', '.join(RECIPES)}"
    )
    log = logging.getLogger("neurosnn")
    log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("      %(message)s"))
    log.addHandler(handler)
    try:
        report = measure_latency(
            ckpt.build(),
            data,
            cfg,
            out / "latency",
            {"checkpoint": str(ann_dir)},
            args.device,
            progress=not args.no_progress,
        )
    finally:
        log.removeHandler(handler)
    print(f"[3/4] plotting into {out / 'plots'}")
    runs = {r.recipe: r.path for r in report.results}
    plots = plot_run(runs["all"], out / "plots") + plot_latency(runs, out / "plots")
    rows = {r.recipe: r.metrics for r in report.results}
    summary = {
        "ann_accuracy": report.ann_accuracy,
        "depth": report.depth,
        "test_images": cfg.test_images,
        "timesteps": cfg.timesteps,
        "recipes": rows,
        "thresholds": {r.recipe: r.thresholds for r in report.results},
        "phi": {r.recipe: r.phi for r in report.results},
        "records": {k: str(v) for k, v in runs.items()},
        "snn_files": {k: str(v.with_suffix(".snn.h5")) for k, v in runs.items()},
        "plots": [str(p) for p in plots],
        "wall_seconds": time.perf_counter() - start,
    }
    from neurosnn.io.nirio import write_nir
    from neurosnn.io.snnfile import load_snn

    summary["nir_files"] = {}
    for name, kept in summary["snn_files"].items():  # each recipe's SNN, in NIR too
        snn, meta = load_snn(kept)
        nir_path = Path(kept).with_name(f"{name}.nir")
        write_nir(nir_path, snn, metadata=meta["source"])
        summary["nir_files"][name] = str(nir_path)
    write_json(out / "summary.json", summary)
    print(f"[4/4] summary in {out / 'summary.json'}")
    print(f"  ANN test accuracy {100 * report.ann_accuracy:.2f}% ({cfg.test_images} images)")
    print(
        "  steps to ANN - 1% (one step of delay per layer: the input reaches the output at "
        f"step {report.depth + 1}):"
    )
    labels = {
        "all": "uniform 99.7 percentile (the paper's baseline)",
        "all+search": "thresholds searched (Eq. 11)",
        "phi+onset": "phi = 0.5 and bias onset (low-latency recipe)",
    }
    for name in RECIPES:
        m = rows[name]
        steps = m["steps_to_ann_minus_1pct"]
        print(
            f"    {labels[name]:<48} {'> T' if steps is None else steps:>5}   "
            f"accuracy at T {100 * m['accuracy_at_T']:.2f}%"
        )
    kept, nir_file = summary["snn_files"]["phi+onset"], summary["nir_files"]["phi+onset"]
    print(
        f"  the low-latency SNN is saved in {kept}: neurosnn.io.snnfile.load_snn(path), or\n"
        f"    python -m experiments.convert --snn {kept} --bias-onset input --out X.h5\n"
        f"  and as NIR in {nir_file}: neurosnn.io.nirio.read_nir(path), nirtorch, or\n"
        f"    python -m experiments.export --snn {nir_file} --nir X.nir --compare 1000"
    )
    print(f"  total time {summary['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
