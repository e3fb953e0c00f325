"""Train an ANN from the network zoo and checkpoint it for conversion.

    python -m experiments.train_ann --dataset fashion-mnist --net vgg9 --epochs 10 \
        --out runs/fmnist_vgg9
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_option_arg,
    add_out_arg,
    add_progress_arg,
    add_tensorboard_arg,
    claim_output,
    load_data,
    new_parser,
    say,
    setup_logging,
    tensorboard_scalars,
)
from neurosnn.io.checkpoint import CHECKPOINT_NAME
from neurosnn.io.data import split_fingerprint
from neurosnn.io.output import one_line_errors, write_json
from neurosnn.learn.train import DATASET_OPTIONS, TrainConfig, TrainingDiverged, train_ann
from neurosnn.networks import create_network, list_networks


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("python -m experiments.train_ann", __doc__)
    add_data_args(p)
    p.add_argument(
        "--net", default="vgg9", choices=list_networks(), help="network name (default: %(default)s)"
    )
    add_option_arg(
        p,
        "network option, repeatable: width=0.25, pool=avg|max, bias=true, "
        "dropout=0.2, batch_norm=true, activation=relu|qcfs|nq (QCFS: Bu et al.; NQ: "
        "QCFS plus the SNN's measured residual as noise in training), levels=L, "
        "qcfs_threshold=8 (defaults for 28x28 datasets: "
        f"{DATASET_OPTIONS['fashion-mnist']})",
    )
    defaults = TrainConfig()
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="default: %(default)s")
    p.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="default: %(default)s"
    )
    p.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default=defaults.optimizer,
        help="default: %(default)s (SGD with Nesterov momentum)",
    )
    p.add_argument(
        "--lr", type=float, default=defaults.lr, help="learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--weight-decay", type=float, default=defaults.weight_decay, help="default: %(default)s"
    )
    p.add_argument(
        "--schedule",
        choices=("cosine", "step", "none"),
        default=defaults.schedule,
        help="learning-rate schedule (default: %(default)s)",
    )
    p.add_argument(
        "--train-images",
        type=int,
        default=None,
        help="train on a seeded random subset of this many images (default: all)",
    )
    p.add_argument(
        "--test-images",
        type=int,
        default=None,
        help="test each epoch on a seeded random subset of this many test images (default: all; "
        "fewer is faster, the last epoch's accuracy is then on those)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of init and data order")
    add_device_arg(p)
    add_out_arg(p, "run folder: checkpoint.pt and train.json")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt after an interruption",
    )
    add_progress_arg(p)
    add_tensorboard_arg(p, "each epoch's loss, test accuracy and seconds")
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    if not args.resume and (out / CHECKPOINT_NAME).is_file():
        raise SystemExit(
            f"error: --out {out} holds a trained checkpoint; pass --resume to continue it, or "
            "choose another folder"
        )
    data = load_data(args.dataset, args.data_root)
    train_print = split_fingerprint(data.train)  # the whole split, before --train-images
    if args.train_images is not None:
        if not 1 <= args.train_images <= len(data.train):
            raise SystemExit(
                f"error: --train-images must be in 1..{len(data.train)} (the training images of "
                f"{data.name}), got {args.train_images}"
            )
        data = dataclasses.replace(
            data, train=data.train.random_subset(args.train_images, args.seed)
        )
    options = {**DATASET_OPTIONS.get(args.dataset, {}), **dict(args.option or [])}
    try:
        cfg = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer=args.optimizer,
            lr=args.lr,
            weight_decay=args.weight_decay,
            schedule=args.schedule,
            seed=args.seed,
            test_images=args.test_images,
        )
        torch.manual_seed(args.seed)  # the weight initialisation follows --seed
        model = create_network(
            args.net, data.num_classes, data.in_channels, data.input_size, **options
        )
    except (ValueError, TypeError) as err:  # TypeError: an --option the network does not take
        raise SystemExit(f"error: {err}") from err
    setup_logging(Path(args.out) / "train.log")
    say(
        f"{args.net} {options} on {args.dataset}: {len(data.train)} training images, "
        f"{sum(p.numel() for p in model.parameters())} parameters, device {args.device}"
    )
    try:
        with tensorboard_scalars(args) as scalars:
            ckpt = train_ann(
                model,
                data,
                cfg,
                out_dir=args.out,
                resume=args.resume,
                device=args.device,
                progress=not args.no_progress,
                train_fingerprint=train_print,
                on_epoch=scalars and scalars.epoch,
            )
    except TrainingDiverged as err:
        raise SystemExit(f"error: {err}") from err
    write_json(
        Path(args.out) / "train.json",
        {
            "config": dataclasses.asdict(cfg),
            "net": args.net,
            "options": options,
            "dataset": args.dataset,
            "train_images": len(data.train),
            "test_images": args.test_images or len(data.test),
            "history": ckpt.history,
            "test_accuracy": ckpt.test_accuracy,
        },
    )
    say(f"test accuracy {ckpt.test_accuracy:.4f}; checkpoint in {args.out}/checkpoint.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
