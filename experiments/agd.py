"""AGD training from scratch (Panda, Aketi & Roy 2020 §3.2, §5, §6): the same network as an LIF
SNN with a softmax or a stochmax classifier, and as a hybrid with its first layers ReLU.

    python -m experiments.agd --out runs/agd

Each variant is trained end to end with surrogate gradients (BPTT over T) on Fashion-MNIST
(a training subset) and evaluated on the test set: accuracy at every step (reported at
``--report-steps``), spikes per image, and energy efficiency against the same network as an ANN
(:mod:`neurosnn.energy`; the ReLU layers of the hybrid count MACs). Writes OUT/agd.h5 (each
variant's accuracy per step and input spiking activity per layer), OUT/summary.json and
OUT/plots/agd.png.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

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

VARIANTS = ("softmax", "stochmax", "hybrid")


def snn_energy(net, images_shape, layer_spikes: dict[str, float], timesteps: int) -> dict:
    """Energy of a :class:`SpikingNet` from its per-image spikes per layer."""
    import torch

    from neurosnn.energy import connection_macs, energy

    shapes, macs, x = {}, {}, torch.zeros(1, *images_shape)
    with torch.no_grad():
        for name, stage in zip(net.names, net.stages, strict=True):
            macs[name] = connection_macs(stage, tuple(x.shape[1:]))
            x = stage(x)
            shapes[name] = tuple(x.shape[1:])
    analog = net.names[: net.cfg.relu_layers]
    return energy(
        net.names, shapes, images_shape, macs, layer_spikes, 1, timesteps, analog
    ).as_dict()


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = new_parser("python -m experiments.agd", __doc__)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--net", default="vgg5", help="registry network (default: %(default)s)")
    p.add_argument(
        "--option",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="network option, repeatable (default: width=0.25)",
    )
    p.add_argument("--variants", default=",".join(VARIANTS), help="default: %(default)s")
    p.add_argument("--timesteps", type=int, default=25, help="T (default: %(default)s)")
    p.add_argument("--report-steps", default="5,10,25", help="default: %(default)s")
    p.add_argument("--hybrid-relu-layers", type=int, default=2, help="default: %(default)s")
    p.add_argument("--leak", type=float, default=0.99, help="LIF leak per step (default: 0.99)")
    p.add_argument("--epochs", type=int, default=2, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam (default: %(default)s)")
    p.add_argument("--train-images", type=int, default=10000, help="default: %(default)s")
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    add_data_args(p)
    add_device_arg(p)
    add_progress_arg(p)
    args = p.parse_args(argv)
    claim_output(args.out)
    variants = args.variants.split(",")
    if set(variants) - set(VARIANTS):
        raise SystemExit(f"error: --variants must be among {', '.join(VARIANTS)}")
    try:
        report = [int(t) for t in args.report_steps.split(",")]
    except ValueError as err:
        raise SystemExit(f"error: --report-steps: {err}") from err
    if any(not 1 <= t <= args.timesteps for t in report):
        raise SystemExit(f"error: --report-steps must lie in 1..{args.timesteps}")

    import torch

    from neurosnn.networks import create_network
    from neurosnn.surrogate.agd import (
        AGDConfig,
        SpikingNet,
        TrainAGDConfig,
        evaluate_agd,
        train_agd,
    )

    start = time.perf_counter()
    data = load_data(args.dataset, args.data_root, allow_subset=args.dataset == "fashion-mnist")
    train = data.train.random_subset(min(args.train_images, len(data.train)), args.seed)
    test = data.test.random_subset(min(args.test_images, len(data.test)), 0)
    shape = (data.in_channels, data.input_size, data.input_size)
    options = parse_options(args.option or ["width=0.25"])
    results = {}
    for variant in variants:
        torch.manual_seed(args.seed)
        model = create_network(args.net, data.num_classes, *shape[:1], shape[1], **options)
        cfg = AGDConfig(
            timesteps=args.timesteps,
            leak=args.leak,
            stochmax=variant == "stochmax",
            relu_layers=args.hybrid_relu_layers if variant == "hybrid" else 0,
        )
        net = SpikingNet(model, cfg, shape)
        tcfg = TrainAGDConfig(epochs=args.epochs, lr=args.lr, seed=args.seed)
        history = train_agd(net, train, tcfg, args.device, not args.no_progress)
        ev = evaluate_agd(net, test, args.device)
        results[variant] = {
            "config": dataclasses.asdict(cfg),
            "history": history,
            "accuracy": ev["accuracy"],
            "accuracy_at": {str(t): ev["accuracy"][t - 1] for t in report},
            "spikes_per_image": ev["spikes_per_image"],
            "energy": snn_energy(net.cpu(), shape, ev["layer_spikes"], args.timesteps),
        }
        acc = ", ".join(f"T={t}: {ev['accuracy'][t - 1]:.4f}" for t in report)
        print(
            f"{variant:<9} {acc}; spikes/image {ev['spikes_per_image']:.0f}; "
            f"EE {results[variant]['energy']['efficiency']:.2f}"
        )
    summary = {
        "net": args.net,
        "options": options,
        "variants": results,
        "train_images": len(train),
        "test_images": len(test),
        "timesteps": args.timesteps,
        "wall_seconds": time.perf_counter() - start,
    }
    out = Path(args.out)
    from neurosnn.record import write_arrays

    write_arrays(
        out / "agd.h5",
        {
            v: {"accuracy": r["accuracy"], "energy_activity": r["energy"]["activity"]}
            for v, r in results.items()
        },
        {"net": args.net, "options": options, "timesteps": args.timesteps},
    )
    write_json(out / "summary.json", summary)
    from neurosnn.analysis.agd import plot_agd

    summary["plots"] = [str(p) for p in plot_agd(out)]
    write_json(out / "summary.json", summary)
    print(f"summary in {out}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
