"""Convert a trained ANN checkpoint to a BindsNET SNN, simulate it on the test set and write
an HDF5 record (accuracy vs timestep, per-layer spike counts, spike trains of a few images);
the converted SNN itself is saved beside it (OUT with .snn.h5), and ``--snn FILE`` simulates
and records a saved SNN without its ANN.

    python -m experiments.convert --checkpoint runs/fmnist_vgg9 --percentile 99.7 \
        --timesteps 200 --out runs/fmnist_vgg9/convert.h5
    python -m experiments.convert --snn runs/fmnist_vgg9/convert.snn.h5 --out again.h5
    python -m experiments.convert --model mymodels:resnet --weights resnet.pt \
        --dataset fashion-mnist --out runs/mine/convert.h5   # your own network
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from types import SimpleNamespace

from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_out_arg,
    add_progress_arg,
    add_source_args,
    claim_output,
    config_from,
    load_data,
    load_source,
    new_parser,
    say,
    setup_logging,
)
from neurosnn.io.checkpoint import resolve
from neurosnn.io.data import DATASETS
from neurosnn.io.output import one_line_errors
from neurosnn.io.record import FORMAT as RUN_FORMAT
from neurosnn.jobs.convert import (
    ConvertConfig,
    convert_checkpoint,
    from_saved,
    read_snn,
    record_run,
    saved_dataset,
    snn_path,
    summarise,
)
from neurosnn.simulation.options import BIAS_ONSETS, ENCODINGS
from neurosnn.snn.options import PERCENTILE_OF


def build_parser() -> argparse.ArgumentParser:
    d = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(ConvertConfig)})
    p = new_parser("python -m experiments.convert", __doc__)
    source = p.add_mutually_exclusive_group(required=True)
    add_source_args(p, source, dataset=False)
    source.add_argument(
        "--snn",
        help="a saved SNN (.snn.h5, written by convert, neuroevolve or bptt_vs_de, or a .nir "
        "file from experiments.export) to simulate "
        "and record instead; the conversion options are then the file's",
    )
    p.add_argument(
        "--no-save-snn",
        action="store_true",
        help="do not save the converted SNN as OUT with .snn.h5 (saved by default)",
    )
    add_data_args(p, dataset=False)
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="with --model: the data set to calibrate and test on; with --snn: the one to test "
        "it on, where the file does not say which (a NIR file); a checkpoint records its own",
    )
    p.add_argument(
        "--percentile",
        type=float,
        default=d.percentile,
        help="threshold of every layer as a percentile of its ANN activations, in (0, 100] "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--percentile-of",
        choices=PERCENTILE_OF,
        default=d.percentile_of,
        help="take the percentile over all of a layer's ReLU outputs, zeros included (the "
        "authors' code, the paper's 99.7), or over the positive ones (Rueckauer et al.) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--channelwise",
        action="store_true",
        help="one threshold per channel of every conv layer, each at its own percentile "
        "(folded into the weights)",
    )
    p.add_argument(
        "--phi",
        type=float,
        default=d.phi,
        help="initial membrane potential phi*theta of every IF layer, phi in [0, 1); 0.5 is "
        "the half-threshold shift of Bu et al. (default: %(default)s)",
    )
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="T (default: %(default)s)")
    p.add_argument(
        "--calib-images",
        type=int,
        default=d.calib_images,
        help="training images used to calibrate activations (default: %(default)s)",
    )
    p.add_argument(
        "--test-images",
        type=int,
        default=None,
        help="simulate a seeded random subset of the test set (default: all)",
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: %(default)s")
    p.add_argument(
        "--engine",
        choices=("fast", "reference"),
        default=d.engine,
        help="fast loop or bindsnet Network.run (default: %(default)s)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default=d.precision,
        help="the fast engine's connections: fp32 (bindsnet's spikes exactly) or bf16 "
        "(float32 membranes; its measured accuracy effect: docs/conversion.md) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--delay",
        choices=("layer", "none"),
        default=d.delay,
        help="one step of delay per layer, or none (default: %(default)s)",
    )
    p.add_argument(
        "--bias-onset",
        choices=BIAS_ONSETS,
        default=d.bias_onset,
        help="each layer's bias acts from step 1 (always: bindsnet's schedule) or is withheld "
        "until the layer's input can arrive (input; with --delay layer) (default: %(default)s)",
    )
    p.add_argument(
        "--readout-after",
        type=int,
        default=d.readout_after,
        metavar="K",
        help="delayed evaluation: predict from the output potential gained after step K, no "
        "answer before; the accuracy per step counts the K steps (default: %(default)s)",
    )
    p.add_argument(
        "--presim",
        type=int,
        default=d.presim,
        metavar="TAU",
        help="SRP (Hao et al., AAAI 2023): TAU pre-simulation steps, then a fresh run with the "
        "neurons whose potential ended at or below zero silenced; the TAU steps count in the "
        "accuracy per step; use with --delay none, as its authors (default: %(default)s)",
    )
    p.add_argument(
        "--encoding",
        choices=ENCODINGS,
        default=d.encoding,
        help="input encoding (default: %(default)s)",
    )
    p.add_argument(
        "--record-spikes",
        type=int,
        default=d.record_spikes,
        help="store spike trains of this many images (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed of subsets and encodings")
    add_device_arg(p)
    add_out_arg(p, "HDF5 file to write")
    add_progress_arg(p)
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    claim_output(
        args.out,
        "file",
        inputs=(args.snn, args.weights, args.checkpoint and resolve(args.checkpoint)),
        beside=(snn_path(out), out.with_suffix(".log")),
        formats=(RUN_FORMAT,),
    )
    setup_logging(out.with_suffix(".log"))
    if args.snn:
        cfg = config_from(args, ConvertConfig, checkpoint="", save_snn=not args.no_save_snn)
        snn, source, spec = read_snn(cfg.snn, cfg.device)
        data = load_data(saved_dataset(cfg.snn, source, cfg.dataset), cfg.data_root)
        run = from_saved(cfg, snn, source, spec, data)
    else:
        ckpt, data, path = load_source(args)
        cfg = config_from(
            args, ConvertConfig, checkpoint=path, dataset=None, save_snn=not args.no_save_snn
        )
        run = convert_checkpoint(cfg, ckpt, data, out)
    result, meta = record_run(cfg, run, out, progress=not args.no_progress)
    s = summarise(result, meta["ann_accuracy"])
    ann = "n/a" if s["ann_accuracy"] is None else f"{s['ann_accuracy']:.4f}"
    say(
        f"ANN accuracy {ann}; SNN accuracy at T={cfg.timesteps}: "
        f"{s['snn_final_accuracy']:.4f} (best {s['snn_best_accuracy']:.4f}); "
        f"within 1% of the ANN from step {s['steps_to_ann_minus_1pct']}; "
        f"{s['test_images']} images in {s['simulation_seconds']:.0f} s; record: {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
