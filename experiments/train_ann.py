"""Train an ANN of neurosnn's registry (VGG, ResNet, BackRes, LeNet …) on a data set and save
its checkpoint for conversion, with the constraints conversion needs (QCFS or NQ activations
by --option activation=qcfs|nq).

Writes OUT/checkpoint.pt (after every epoch; a rerun into OUT resumes it), OUT/train.json,
OUT/train.log and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.common import Hardware, Output, Scalars
from neurosnn.config.train import Network, TrainConfig, TrainData
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="train",
    description=__doc__,
    parts=(
        Part("data", TrainData),
        Part("network", Network),
        Part("training", TrainConfig),
        Part("output", Output),
        Part("scalars", Scalars),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.train_ann:run",
    examples=(
        "neurosnn train --dataset fashion-mnist --net vgg9 --epochs 10 --out runs/fmnist_vgg9",
        "neurosnn train --net resnet20 --option width=1 --out runs/fmnist_resnet20",
        "neurosnn train --net vgg9 --option activation=qcfs --option levels=4 "
        "--out runs/fmnist_vgg9_qcfs",
    ),
    retired={"--resume": "a rerun into the same --out resumes its training (the same settings)"},
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses

    import torch

    from neurosnn.config.train import DATASET_OPTIONS
    from neurosnn.errors import UserError
    from neurosnn.experiments.common import (
        claim_output,
        load_data,
        say,
        setup_logging,
        tensorboard_scalars,
    )
    from neurosnn.io.data import split_fingerprint
    from neurosnn.io.output import write_json
    from neurosnn.learn.train import train_ann
    from neurosnn.networks import create_network, list_networks

    d, net, cfg = job.data, job.network, job.training
    if net.net not in list_networks():
        raise UserError(f"net: unknown network {net.net!r}; known: {', '.join(list_networks())}")
    out = claim_output(job.output.out)
    data = load_data(d.dataset, d.data_root)
    train_print = split_fingerprint(data.train)  # the whole split, before --train-images
    if d.train_images:
        if d.train_images > len(data.train):
            raise UserError(
                f"train_images must be in 1..{len(data.train)} (the training images of "
                f"{data.name}), got {d.train_images}"
            )
        data = dataclasses.replace(data, train=data.train.random_subset(d.train_images, cfg.seed))
    options = {**DATASET_OPTIONS.get(d.dataset, {}), **net.options}
    torch.manual_seed(cfg.seed)  # the weight initialisation follows --seed
    try:
        model = create_network(
            net.net, data.num_classes, data.in_channels, data.input_size, **options
        )
    except (ValueError, TypeError) as err:  # TypeError: an --option the network does not take
        raise UserError(f"option: {err}") from err
    device = job.hardware.apply()
    setup_logging(out / "train.log")
    job.write_config(out)
    say(
        f"{net.net} {options} on {d.dataset}: {len(data.train)} training images, "
        f"{sum(p.numel() for p in model.parameters())} parameters, device {device}"
    )
    with tensorboard_scalars(job.scalars.tensorboard) as scalars:
        ckpt = train_ann(
            model,
            data,
            cfg,
            out_dir=out,
            resume=True,
            device=device,
            progress=job.output.progress,
            train_fingerprint=train_print,
            on_epoch=scalars and scalars.epoch,
        )
    write_json(
        out / "train.json",
        {
            "config": dataclasses.asdict(cfg),
            "net": net.net,
            "options": options,
            "dataset": d.dataset,
            "train_images": len(data.train),
            "test_images": cfg.test_images or len(data.test),
            "history": ckpt.history,
            "test_accuracy": ckpt.test_accuracy,
        },
    )
    say(f"test accuracy {ckpt.test_accuracy:.4f}; checkpoint in {out}/checkpoint.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
