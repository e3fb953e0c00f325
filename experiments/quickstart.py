"""The main job, end to end on Fashion-MNIST in a few minutes on a 2-core CPU: train (or
reuse) a small VGG9, convert it to a BindsNET SNN at the 99.7 percentile of all its layers'
outputs (Lu & Sengupta's baseline), run the paper's threshold search (differential evolution,
Eq. 11, one fixed mini-dataset S) and the low-latency recipe (half-threshold initial
potential, biases withheld until each layer's input arrives), simulate the same test images
under each, and report how many timesteps each needs to come within 1% of the ANN — counted
as the paper counts, one step of delay per layer.

Writes OUT/ann/checkpoint.pt, OUT/latency/{all,all+search,phi+onset}.h5 (run records: accuracy
per step, spike counts, the spike trains of 4 images), OUT/latency/all+search_search/ (the
search), OUT/plots/*.png (accuracy vs time, layer activity and a raster of the baseline; the
latency–accuracy frontier and the accuracy curves of all three), each recipe's SNN as
OUT/latency/RECIPE.snn.h5 and as NIR in OUT/latency/RECIPE.nir, OUT/summary.json, OUT/demo.log
and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.common import Hardware, Output
from neurosnn.config.demo import DemoConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

RECIPES = ("all", "all+search", "phi+onset")
COMMAND = Command(
    name="demo",
    description=__doc__,
    parts=(
        Part("demo", DemoConfig),
        Part("output", Output, defaults={"out": "runs/quickstart"}),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.quickstart:run",
    examples=("neurosnn demo", "neurosnn demo --seed 1 --out runs/quickstart_s1"),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def _train(demo: DemoConfig, ann_dir, device: str, progress: bool) -> None:
    import dataclasses

    import torch

    from neurosnn.config.train import DATASET_OPTIONS, TrainConfig
    from neurosnn.experiments.common import load_data, say
    from neurosnn.io.data import split_fingerprint
    from neurosnn.learn.train import train_ann
    from neurosnn.networks import create_network

    data = load_data("fashion-mnist", demo.data_root, allow_subset=True)
    n_train = min(demo.train_images, len(data.train))
    epochs = demo.epochs_for(n_train)
    train_print = split_fingerprint(data.train)  # the whole split, before the subset
    data = dataclasses.replace(data, train=data.train.random_subset(n_train, demo.seed))
    torch.manual_seed(demo.seed)
    options = DATASET_OPTIONS["fashion-mnist"]
    model = create_network("vgg9", data.num_classes, data.in_channels, data.input_size, **options)
    say(f"[1/4] training vgg9 {options} on {n_train} images, {epochs} epochs")
    train_ann(
        model,
        data,
        TrainConfig(epochs=epochs, seed=demo.seed),
        out_dir=ann_dir,
        device=device,
        progress=progress,
        train_fingerprint=train_print,
    )


def run(job) -> int:
    import time
    from pathlib import Path

    from neurosnn.errors import UserError
    from neurosnn.experiments.common import (
        claim_output,
        load_checkpoint_and_data,
        say,
        setup_logging,
    )
    from neurosnn.io.checkpoint import CHECKPOINT_NAME
    from neurosnn.io.output import write_json

    demo, progress = job.demo, job.output.progress
    out = claim_output(job.output.out)
    setup_logging(out / "demo.log", terminal="      %(message)s")
    job.write_config(out)
    device = job.hardware.apply()
    start = time.perf_counter()
    ann_dir = out / "ann"
    if demo.retrain or not (ann_dir / CHECKPOINT_NAME).is_file():
        _train(demo, ann_dir, device, progress)
    else:
        from neurosnn.io.checkpoint import load_checkpoint

        trained = (load_checkpoint(ann_dir).config or {}).get("seed", 0)
        if trained != demo.seed:
            raise UserError(
                f"seed: {ann_dir} was trained with --seed {trained}, not {demo.seed}: give "
                "another --out"
            )
        say(f"[1/4] reusing the trained ANN in {ann_dir} (another --out trains a new one)")

    from neurosnn.analysis.latency import plot_latency
    from neurosnn.analysis.plot import plot_run
    from neurosnn.jobs.latency import LatencyConfig, measure_latency, sized_search

    ckpt, data = load_checkpoint_and_data(str(ann_dir), demo.data_root, allow_subset=True)
    cfg = LatencyConfig(
        recipes=RECIPES,
        timesteps=demo.timesteps,
        long_horizon=1,
        test_images=demo.test_images,
        search=sized_search(demo.population, demo.generations, demo.images),
    )
    s = cfg.search
    say(
        "[2/4] converting at the 99.7 percentile of all outputs; threshold search "
        f"(P={s.population}, G={s.generations}, E={s.images}, T={cfg.timesteps}, Eq. 11, "
        "fixed S); simulating "
        f"{cfg.test_images} test images for T={cfg.timesteps} under {', '.join(RECIPES)}"
    )
    report = measure_latency(
        ckpt.build(), data, cfg, out / "latency", {"checkpoint": str(ann_dir)}, device, progress
    )
    say(f"[3/4] plotting into {out / 'plots'}")
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
    say(f"[4/4] summary in {out / 'summary.json'}")
    say(f"  ANN test accuracy {100 * report.ann_accuracy:.2f}% ({cfg.test_images} images)")
    say(
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
        say(
            f"    {labels[name]:<48} {'> T' if steps is None else steps:>5}   "
            f"accuracy at T {100 * m['accuracy_at_T']:.2f}%"
        )
    kept, nir_file = summary["snn_files"]["phi+onset"], summary["nir_files"]["phi+onset"]
    say(
        f"  the low-latency SNN is saved in {kept}: neurosnn.load_snn(path), or\n"
        f"    neurosnn convert --snn {kept} --bias-onset input --out runs/again\n"
        f"  and as NIR in {nir_file}: neurosnn.read_nir(path), nirtorch, or\n"
        f"    neurosnn export --snn {nir_file} --compare 1000 --out runs/nir_check"
    )
    say(f"  total time {summary['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
