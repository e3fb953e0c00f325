"""Layer-wise STDP + ReLU classifier against the same classifier on random frozen features
(Panda, Aketi & Roy 2020, §4.3, Tables 6 and 12), with and without BackRes.

    python -m experiments.stdp --out runs/stdp

For each network its convolutions are trained one at a time with STDP on --stdp-images
unlabelled training images (the paper: 5,000). The control is the same network with the same
random kernels, whose thresholds adapt the same way on --control-images but whose weights never
learn. Both are then frozen; the spike counts of their last layer over T steps feed a ReLU
classifier (FC1–FC2 and the deeper ConvNN) trained on --train-images labelled images and tested
on --test-images. Networks (32 maps per convolution, 2×2 OR-pooling, Fashion-MNIST 28×28):

| name | layers | logical depth | unique convolutions |
|---|---|---|---|
| stdp2 | C1(5×5) P C2 P | 2 | 2 |
| stdp3 | C1(5×5) P C2 C3 P | 3 | 3 |
| stdp2x2 | C1(5×5) P (C2)×2 P | 3 | 2 (BackRes, k×2 updates) |

Every stage is saved as it completes (OUT/<net>/stdp.pt, random.pt, features-*.pt), so an
interrupted run resumes. Writes OUT/stdp.h5 (kernels, thresholds, firing-rate histories),
OUT/plots/*.png and OUT/summary.json.
"""

from __future__ import annotations

import argparse
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
)
from neurosnn.output import one_line_errors, write_json


def network_specs() -> dict[str, list]:
    from neurosnn.stdp import ConvSpec

    return {
        "stdp2": [ConvSpec(32, 5), ConvSpec(32, 3)],
        "stdp3": [ConvSpec(32, 5), ConvSpec(32, 3, pool=1), ConvSpec(32, 3)],
        "stdp2x2": [ConvSpec(32, 5), ConvSpec(32, 3, repeat=2)],
    }


def load_cache(path: Path) -> dict:
    """A cached network or feature file of an earlier run, loaded without running pickled
    code (tensors and plain containers only)."""
    import torch

    try:
        saved = torch.load(path, weights_only=True)
    except Exception as err:  # torch raises several unrelated types for foreign files
        raise SystemExit(f"error: cannot read {path} (delete it to recompute): {err}") from err
    if not isinstance(saved, dict):
        raise SystemExit(
            f"error: {path} is not a cache of experiments.stdp (delete it to recompute)"
        )
    return saved


def trained(name: str, kind: str, args, data, cfg, folder: Path):
    """The network ``name`` trained with STDP (``kind = "stdp"``) or with its thresholds only
    adapted (``"random"``), loaded from ``folder`` when an earlier run saved it."""
    import torch

    from neurosnn.stdp import STDPNet, train_layerwise

    shape = (data.in_channels, data.input_size, data.input_size)
    net = STDPNet(network_specs()[name], shape, cfg, seed=args.seed, device=args.device)
    path = folder / f"{kind}.pt"
    if path.is_file():
        saved = load_cache(path)
        net.load_state_dict(saved["state"])
        return net, saved["history"], saved["seconds"]
    n = args.stdp_images if kind == "stdp" else args.control_images
    subset = data.train.random_subset(min(n, len(data.train)), args.seed + 1)
    start = time.perf_counter()
    history = train_layerwise(
        net,
        subset,
        data.mean,
        data.std,
        batch_size=args.stdp_batch,
        seed=args.seed,
        learn_weights=kind == "stdp",
        progress=args.progress,
    )
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "history": history, "seconds": seconds}, path)
    return net, history, seconds


def features(net, kind: str, split_name: str, split, args, data, folder: Path):
    import torch

    from neurosnn.stdp import Features, spike_features

    path = folder / f"features-{kind}-{split_name}.pt"
    if path.is_file():
        return Features(**load_cache(path))
    f = spike_features(net, split, data.mean, data.std, seed=args.seed, progress=args.progress)
    torch.save(dataclasses.asdict(f), path)
    return f


def run_network(name: str, args, data, cfg, out: Path) -> tuple[dict[str, Any], dict]:
    import torch

    from neurosnn.readout import ReadoutConfig, accuracy, build_classifier, rates, train_classifier
    from neurosnn.stdp import kernel_similarity

    folder, specs = out / name, network_specs()[name]
    train = data.train.random_subset(min(args.train_images, len(data.train)), args.seed)
    test = data.test.random_subset(min(args.test_images, len(data.test)), 0)
    result: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    for kind in ("stdp", "random"):
        net, history, seconds = trained(name, kind, args, data, cfg, folder)
        f_train = features(net, kind, "train", train, args, data, folder)
        f_test = features(net, kind, "test", test, args, data, folder)
        x_train, x_test = rates(f_train.counts, cfg.timesteps), rates(f_test.counts, cfg.timesteps)
        entry: dict[str, Any] = {
            "training_seconds": seconds,
            "thresholds": {layer.name: layer.thresholds for layer in net.layers},
            "kernel_similarity": {
                layer.name: kernel_similarity(layer.weight.cpu()) for layer in net.layers
            },
            "final_rate": {n: h[-1] for n, h in history.items()},
            "spikes_per_image": {
                n: float(s.sum()) / len(test) for n, s in f_test.step_spikes.items()
            },
            "classifiers": {},
        }
        for clf in args.classifiers:
            torch.manual_seed(args.seed)
            model = build_classifier(clf, net.output_shape, data.num_classes)
            rcfg = ReadoutConfig(epochs=args.classifier_epochs, seed=args.seed)
            losses = train_classifier(
                model, x_train, f_train.labels, rcfg, args.device, args.progress
            )
            acc = accuracy(model, x_test, f_test.labels, args.device)
            e = net.energy(f_test.step_spikes, len(test), model.cpu())
            entry["classifiers"][clf] = {
                "accuracy": acc,
                "train_accuracy": accuracy(model, x_train, f_train.labels),
                "final_loss": losses[-1],
                "energy": e.as_dict(),
            }
            print(f"{name:<8} {kind:<7} {clf:<7} test accuracy {acc:.4f}  EE {e.efficiency:.2f}")
        result[kind] = entry
        arrays[f"{name}.{kind}"] = {
            **{f"{layer.name}.weight": layer.weight.cpu().numpy() for layer in net.layers},
            **{f"rate.{n}": torch.tensor(h).numpy() for n, h in history.items()},
        }
    result["unique_convolutions"] = len(specs)
    result["logical_depth"] = sum(s.repeat for s in specs)
    return result, arrays


def build_parser() -> argparse.ArgumentParser:
    from neurosnn.readout import CLASSIFIERS
    from neurosnn.stdp import BACKENDS, INHIBITIONS, RULES, STDPConfig

    d = STDPConfig()
    p = new_parser("python -m experiments.stdp", __doc__)
    p.add_argument("--out", required=True, help="output folder (re-running resumes)")
    p.add_argument("--nets", default="stdp2,stdp3,stdp2x2", help="default: %(default)s")
    p.add_argument("--classifiers", default=",".join(CLASSIFIERS), help="default: %(default)s")
    p.add_argument("--rule", default=d.rule, choices=sorted(RULES), help="default: %(default)s")
    p.add_argument(
        "--nu",
        default=f"{d.nu[0]},{d.nu[1]}",
        help="learning rates pre (depression),post (potentiation) (default: %(default)s)",
    )
    p.add_argument(
        "--reduction", default=d.reduction, choices=("mean", "sum"), help="default: %(default)s"
    )
    p.add_argument(
        "--backend",
        default=d.backend,
        choices=BACKENDS,
        help="who computes the rule's update: BindsNET's own code, or the same update as "
        "convolution weight gradients (equal to float tolerance, faster) (default: %(default)s)",
    )
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="T (default: %(default)s)")
    p.add_argument(
        "--updates", type=int, default=d.updates, help="k per presentation (default: %(default)s)"
    )
    p.add_argument("--dropout", type=float, default=d.dropout, help="default: %(default)s")
    p.add_argument(
        "--inhibition",
        default=d.inhibition,
        choices=INHIBITIONS,
        help="lateral inhibition across maps: never, in the learning layer, or in every run "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--target-rate", type=float, default=d.target_rate, help="r* (default: %(default)s)"
    )
    p.add_argument("--stdp-images", type=int, default=5000, help="default: %(default)s")
    p.add_argument(
        "--control-images",
        type=int,
        default=1000,
        help="images on which the random control's thresholds adapt (default: %(default)s)",
    )
    p.add_argument("--stdp-batch", type=int, default=16, help="default: %(default)s")
    p.add_argument("--train-images", type=int, default=5000, help="labelled (default: %(default)s)")
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s")
    p.add_argument("--classifier-epochs", type=int, default=30, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    add_data_args(p)
    add_device_arg(p)
    add_progress_arg(p)
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    claim_output(args.out)
    args.progress = not args.no_progress
    nets, args.classifiers = args.nets.split(","), args.classifiers.split(",")
    known = network_specs()
    if set(nets) - set(known):
        raise SystemExit(f"error: --nets must be among {', '.join(known)}")
    from neurosnn.readout import CLASSIFIERS
    from neurosnn.stdp import STDPConfig

    if set(args.classifiers) - set(CLASSIFIERS):
        raise SystemExit(f"error: --classifiers must be among {', '.join(CLASSIFIERS)}")
    try:
        nu = tuple(float(v) for v in args.nu.split(","))
        cfg = STDPConfig(
            rule=args.rule,
            nu=nu,
            reduction=args.reduction,
            backend=args.backend,
            timesteps=args.timesteps,
            updates=args.updates,
            dropout=args.dropout,
            inhibition=args.inhibition,
            target_rate=args.target_rate,
        )
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    for flag in ("stdp_images", "control_images", "train_images", "test_images", "stdp_batch"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"error: --{flag.replace('_', '-')} must be >= 1")
    start = time.perf_counter()
    data = load_data(args.dataset, args.data_root, allow_subset=args.dataset == "fashion-mnist")
    out = Path(args.out)
    results, arrays = {}, {}
    for name in nets:
        results[name], a = run_network(name, args, data, cfg, out)
        arrays.update(a)
    from neurosnn.record import write_arrays

    config = {"stdp": dataclasses.asdict(cfg), **{k: v for k, v in vars(args).items()}}
    write_arrays(out / "stdp.h5", arrays, config)
    summary = {"networks": results, "config": config, "wall_seconds": time.perf_counter() - start}
    write_json(out / "summary.json", summary)
    from neurosnn.analysis.stdp import plot_stdp

    summary["plots"] = [str(p) for p in plot_stdp(out)]
    write_json(out / "summary.json", summary)
    print(f"{'network':<9}{'classifier':<11}{'STDP':>8}{'random':>8}{'EE':>7}{'EE conv':>9}")
    for name, r in results.items():
        for clf in args.classifiers:
            s, c = r["stdp"]["classifiers"][clf], r["random"]["classifiers"][clf]
            print(
                f"{name:<9}{clf:<11}{s['accuracy']:>8.4f}{c['accuracy']:>8.4f}"
                f"{s['energy']['efficiency']:>7.2f}{s['energy']['spiking_efficiency']:>9.2f}"
            )
    print(f"summary in {out}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
