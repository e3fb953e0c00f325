"""Convert a trained ANN checkpoint to a BindsNET SNN, simulate it on the test set and write
an HDF5 record (accuracy vs timestep, per-layer spike counts, spike trains of a few images);
the converted SNN itself is saved beside it (OUT with .snn.h5), and ``--snn FILE`` simulates
and records a saved SNN without its ANN.

    python -m experiments.convert --checkpoint runs/fmnist_vgg9 --percentile 99.7 \
        --timesteps 200 --out runs/fmnist_vgg9/convert.h5
    python -m experiments.convert --snn runs/fmnist_vgg9/convert.snn.h5 --out again.h5
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from neurosnn.checkpoint import resolve
from neurosnn.cost import iso_accuracy_step
from neurosnn.data import seeded_subset
from neurosnn.encoding import ENCODINGS
from neurosnn.engine import BIAS_ONSETS
from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_progress_arg,
    claim_output,
    load_checkpoint_and_data,
    load_data,
    new_parser,
    setup_logging,
)
from neurosnn.output import one_line_errors
from neurosnn.record import RunWriter
from neurosnn.simulate import SimResult
from neurosnn.snn import PERCENTILE_OF
from neurosnn.snnfile import source_of

log = logging.getLogger("neurosnn.convert")


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """Everything a conversion run depends on (saved in the HDF5 record)."""

    checkpoint: str  # "" with snn
    snn: str | None = None  # a saved SNN (neurosnn.snnfile) to simulate instead
    save_snn: bool = True  # a conversion also writes <out>.snn.h5
    percentile: float = 99.7
    percentile_of: str = "all"
    channelwise: bool = False
    phi: float = 0.0
    timesteps: int = 200
    calib_images: int = 2000
    test_images: int | None = None
    batch_size: int = 64
    engine: str = "fast"
    precision: str = "fp32"
    delay: str = "layer"
    bias_onset: str = "always"
    encoding: str = "current"
    record_spikes: int = 16
    seed: int = 0
    data_root: str | None = None
    device: str = "cpu"


def _converted(cfg: ConvertConfig, out: Path, allow_subset: bool):
    from neurosnn.convert import convert
    from neurosnn.snnfile import save_snn
    from neurosnn.train import evaluate

    ckpt, data = load_checkpoint_and_data(cfg.checkpoint, cfg.data_root, allow_subset)
    model = ckpt.build()
    calib = data.train.random_subset(min(cfg.calib_images, len(data.train)), cfg.seed)
    test, test_indices = seeded_subset(data.test, cfg.test_images, cfg.seed)
    ann_accuracy = evaluate(model, test)
    log.info(
        "ANN %.4f on %d test images; converting (calibration: %d training images, the %g "
        "percentile of %s outputs)",
        ann_accuracy,
        len(test),
        len(calib),
        cfg.percentile,
        cfg.percentile_of,
    )
    snn = convert(
        model,
        (x for x, _ in calib.batches(256)),
        (data.in_channels, data.input_size, data.input_size),
        cfg.percentile,
        device=cfg.device,
        percentile_of=cfg.percentile_of,
        channelwise=cfg.channelwise,
        phi=cfg.phi,
    )
    metadata = {
        "checkpoint": str(resolve(cfg.checkpoint)),
        "network": dataclasses.asdict(ckpt.spec),
        "dataset": ckpt.dataset,
        "ann_accuracy": ann_accuracy,
        "test_images": len(test),
    }
    if cfg.save_snn:
        source = source_of(
            cfg.checkpoint,
            ckpt,
            "experiments.convert",
            simulation={"delay": cfg.delay, "bias_onset": cfg.bias_onset},
        )
        path = save_snn(snn_path(out), snn, model, source)
        log.info("the converted SNN is in %s", path)
    return snn, test, test_indices, metadata


def _saved(cfg: ConvertConfig, allow_subset: bool):
    from neurosnn.data import with_normalisation
    from neurosnn.snnfile import load_snn

    if Path(cfg.snn).suffix == ".nir":
        from neurosnn.nirio import read_nir

        snn, saved = read_nir(cfg.snn, cfg.device)
        saved = {"source": saved.get("source", {}), "spec": None}
    else:
        snn, saved = load_snn(cfg.snn, cfg.device)
    source = saved["source"]
    if "dataset" not in source:
        raise ValueError(f"{cfg.snn} does not say which data set it was made for")
    data = load_data(source["dataset"], cfg.data_root, allow_subset)
    data = with_normalisation(data, tuple(source["mean"]), tuple(source["std"]))
    test, test_indices = seeded_subset(data.test, cfg.test_images, cfg.seed)
    ann = source.get("ann_test_accuracy", source.get("ann_accuracy"))
    log.info("saved SNN %s (%s); the ANN is not loaded", cfg.snn, source.get("made_by", "?"))
    metadata = {
        "snn": str(cfg.snn),
        "network": saved["spec"],
        "dataset": source["dataset"],
        "ann_accuracy": ann,  # as recorded when the SNN was made (not on these images)
        "test_images": len(test),
    }
    return snn, test, test_indices, metadata


def snn_path(out: Path) -> Path:
    """Where a conversion into ``out`` (a run record) saves its SNN: ``X.h5`` → ``X.snn.h5``."""
    return out.with_suffix(".snn.h5")


def run_conversion(
    cfg: ConvertConfig, out: Path, progress: bool = True, allow_subset: bool = False
) -> tuple[SimResult, dict[str, Any]]:
    """Load the checkpoint and convert it (or load the saved SNN ``cfg.snn``), simulate on the
    test set and write ``out`` (HDF5); a conversion also saves its SNN as ``<out>.snn.h5``."""
    from neurosnn.simulate import simulate

    if cfg.snn:
        snn, test, test_indices, metadata = _saved(cfg, allow_subset)
    else:
        snn, test, test_indices, metadata = _converted(cfg, out, allow_subset)
    metadata["test_indices"] = test_indices
    log.info("simulating %d test images for T=%d into %s", len(test), cfg.timesteps, out)
    with RunWriter(out, dataclasses.asdict(cfg)) as writer:
        result = simulate(
            snn,
            test.batches(cfg.batch_size),
            cfg.timesteps,
            engine=cfg.engine,
            precision=cfg.precision,
            delay=cfg.delay,
            bias_onset=cfg.bias_onset,
            encoding=cfg.encoding,
            seed=cfg.seed,
            record_spikes=cfg.record_spikes,
            spike_sink=writer.write_spikes,
            progress=progress,
        )
        writer.write_result(result, snn.percentiles, metadata)
    return result, metadata


def summarise(result: SimResult, ann_accuracy: float) -> dict[str, Any]:
    acc = result.accuracy
    steps = None if ann_accuracy is None else iso_accuracy_step(acc.numpy(), ann_accuracy - 0.01)
    return {
        "ann_accuracy": ann_accuracy,
        "snn_final_accuracy": float(acc[-1]),
        "snn_best_accuracy": float(acc.max()),
        "timesteps": result.timesteps,
        "test_images": result.n_images,
        "steps_to_ann_minus_1pct": steps,
        "firing_rates": result.firing_rates(),
        "simulation_seconds": result.wall_seconds,
    }


def build_parser() -> argparse.ArgumentParser:
    d = ConvertConfig(checkpoint="")
    p = new_parser("python -m experiments.convert", __doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="checkpoint.pt or the run folder that holds it")
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
        "(float32 membranes; measured accuracy effect in the README) (default: %(default)s)",
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
    p.add_argument("--out", required=True, help="HDF5 file to write")
    add_progress_arg(p)
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    claim_output(args.out, "file")
    setup_logging(Path(args.out).with_suffix(".log"))
    cfg = ConvertConfig(
        checkpoint=args.checkpoint or "",
        snn=args.snn,
        save_snn=not args.no_save_snn,
        percentile=args.percentile,
        percentile_of=args.percentile_of,
        channelwise=args.channelwise,
        phi=args.phi,
        timesteps=args.timesteps,
        calib_images=args.calib_images,
        test_images=args.test_images,
        batch_size=args.batch_size,
        engine=args.engine,
        precision=args.precision,
        delay=args.delay,
        bias_onset=args.bias_onset,
        encoding=args.encoding,
        record_spikes=args.record_spikes,
        seed=args.seed,
        data_root=args.data_root,
        device=args.device,
    )
    try:
        result, meta = run_conversion(cfg, Path(args.out), progress=not args.no_progress)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    s = summarise(result, meta["ann_accuracy"])
    ann = "n/a" if s["ann_accuracy"] is None else f"{s['ann_accuracy']:.4f}"
    print(
        f"ANN accuracy {ann}; SNN accuracy at T={cfg.timesteps}: "
        f"{s['snn_final_accuracy']:.4f} (best {s['snn_best_accuracy']:.4f}); "
        f"within 1% of the ANN from step {s['steps_to_ann_minus_1pct']}; "
        f"{s['test_images']} images in {s['simulation_seconds']:.0f} s; record: {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
