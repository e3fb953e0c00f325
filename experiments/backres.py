"""Conversion of BackRes networks against the plain VGG of the same logical depth (Panda, Aketi
& Roy 2020, Table 2 and Fig. 7): accuracy at several T, unique parameters, energy efficiency,
and the thresholds of each unrolling step.

    python -m experiments.backres --out runs/backres

Each network (default vgg7, vgg2x4, vgg3x2-v1) is trained on Fashion-MNIST (or its checkpoint
in OUT/<net>/ reused: an interrupted run resumes), converted at the 99.7 percentile with one
threshold per unrolling step, and simulated once for the largest T (the accuracy at a smaller
T is the curve's value there). Writes OUT/<net>/checkpoint.pt, OUT/<net>/convert.h5,
OUT/plots/*.png and OUT/summary.json.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_progress_arg,
    claim_output,
    load_data,
    new_parser,
    parse_options,
)
from neurosnn.output import one_line_errors, write_json

CHECKPOINT = "checkpoint.pt"


def step_thresholds(layer_names: list[str], thresholds: dict[str, float]) -> dict[str, list]:
    """Per re-used convolution, its thresholds in unrolling order (``path@1``, ``path@2`` …)."""
    steps: dict[str, list[float]] = {}
    for name in layer_names:
        if "@" in name and name in thresholds:
            steps.setdefault(name.split("@")[0], []).append(thresholds[name])
    return steps


def run_network(name: str, args, data, options: dict, out: Path) -> dict[str, Any]:
    import torch

    from neurosnn.checkpoint import load_checkpoint
    from neurosnn.convert import convert
    from neurosnn.energy import energy_of, unique_parameters
    from neurosnn.networks import create_network
    from neurosnn.record import RunWriter
    from neurosnn.simulate import simulate
    from neurosnn.train import TrainConfig, evaluate, train_ann

    folder = out / name
    done = folder / CHECKPOINT
    if done.is_file() and load_checkpoint(done).epoch >= args.epochs:
        model = load_checkpoint(done).build()
    else:
        torch.manual_seed(args.seed)
        model = create_network(name, data.num_classes, data.in_channels, data.input_size, **options)
        cfg = TrainConfig(epochs=args.epochs, seed=args.seed)
        train_ann(model, data, cfg, folder, resume=True, device=args.device, progress=args.progress)
    model = model.cpu().eval()
    test = data.test.random_subset(min(args.test_images, len(data.test)), 0)
    shape = (data.in_channels, data.input_size, data.input_size)
    calib = data.train.random_subset(min(2000, len(data.train)), 0)
    snn = convert(model, (x for x, _ in calib.batches(256)), shape, 99.7, device=args.device)
    T = max(args.timesteps)
    with RunWriter(folder / "convert.h5", {"network": name, "options": options}) as writer:
        result = simulate(snn, test.batches(256), T, progress=args.progress)
        writer.write_result(result, snn.percentiles, {"network": name})
    e = energy_of(result)
    thresholds = dict(zip(snn.if_names, snn.thresholds, strict=True))
    steps = step_thresholds(snn.layer_names, thresholds)
    return {
        "ann_accuracy": evaluate(model, test),
        "snn_accuracy": {str(t): float(result.accuracy[t - 1]) for t in args.timesteps},
        "unique_parameters": unique_parameters(model),
        "logical_depth": len(snn.layer_names),
        "energy": e.as_dict(),
        "step_thresholds": steps,
        "thresholds_increase_with_n": {
            k: all(a < b for a, b in zip(v, v[1:], strict=False)) for k, v in steps.items()
        },
        "spikes_per_image": {
            n: float(c.sum()) / result.n_images for n, c in result.spike_counts.items()
        },
    }


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = new_parser("python -m experiments.backres", __doc__)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--nets", default="vgg7,vgg2x4,vgg3x2-v1", help="default: %(default)s")
    p.add_argument(
        "--option",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="network option, repeatable (default: width=0.25 batch_norm=true)",
    )
    p.add_argument("--epochs", type=int, default=3, help="ANN training epochs (default: 3)")
    p.add_argument(
        "--train-images", type=int, default=20000, help="training subset (default: %(default)s)"
    )
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s")
    p.add_argument(
        "--timesteps", default="50,100,200", help="T values to report (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    add_data_args(p)
    add_device_arg(p)
    add_progress_arg(p)
    args = p.parse_args(argv)
    claim_output(args.out)
    try:
        args.timesteps = sorted(int(t) for t in args.timesteps.split(","))
    except ValueError as err:
        raise SystemExit(f"error: --timesteps: {err}") from err
    if not args.timesteps or args.timesteps[0] < 1:
        raise SystemExit("error: --timesteps must be positive integers")
    args.progress = not args.no_progress
    from neurosnn.networks import list_networks

    nets = args.nets.split(",")
    unknown = [n for n in nets if n not in list_networks()]
    if unknown:
        raise SystemExit(f"error: unknown networks {unknown}; known: {', '.join(list_networks())}")
    options = parse_options(args.option or ["width=0.25", "batch_norm=true"])
    start = time.perf_counter()
    data = load_data(args.dataset, args.data_root, allow_subset=args.dataset == "fashion-mnist")
    n_train = min(args.train_images, len(data.train))
    data = dataclasses.replace(data, train=data.train.random_subset(n_train, args.seed))
    out = Path(args.out)
    results = {n: run_network(n, args, data, options, out) for n in nets}
    summary = {
        "networks": results,
        "options": options,
        "epochs": args.epochs,
        "train_images": n_train,
        "timesteps": args.timesteps,
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(out / "summary.json", summary)
    from neurosnn.analysis.backres import plot_backres

    summary["plots"] = [str(p) for p in plot_backres(out)]
    write_json(out / "summary.json", summary)
    T = args.timesteps
    print(
        f"{'network':<12}{'params':>9}{'ANN':>8}"
        + "".join(f"{f'T={t}':>9}" for t in T)
        + f"{'EE':>7}{'EE spk':>8}"
    )
    for n, r in results.items():
        accs = "".join(f"{r['snn_accuracy'][str(t)]:>9.4f}" for t in T)
        print(
            f"{n:<12}{r['unique_parameters']:>9}{r['ann_accuracy']:>8.4f}{accs}"
            f"{r['energy']['efficiency']:>7.2f}{r['energy']['spiking_efficiency']:>8.2f}"
        )
        for conv, values in r["step_thresholds"].items():
            print(f"  {conv}: thresholds per unrolling step {[round(v, 3) for v in values]}")
    print(f"summary in {out}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
