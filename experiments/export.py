"""Export a saved SNN as a NIR file (the format snnTorch, Norse, sinabs, Lava-DL, Rockpool and
neuromorphic toolchains read), and check the file with another library.

    python -m experiments.export --snn runs/quickstart/latency/phi+onset.snn.h5 --nir tuned.nir
    python -m experiments.export --search runs/fmnist_vgg9/ne --nir tuned.nir --compare 2000
    python -m experiments.export --model mymodels:build --weights w.pt --dataset fashion-mnist \
        --phi 0.5 --nir mine.nir

``--snn`` takes a saved SNN (.snn.h5: experiments.convert, neuroevolve, bptt_vs_de,
latency) or a NIR file; ``--search`` the folder of an experiments.neuroevolve run (its tuned SNN,
OUT/optimized.snn.h5); ``--checkpoint``, or ``--model`` with ``--weights`` and ``--dataset`` (a
network of your own), an ANN that is converted first (``--percentile`` of all outputs, ``--phi``,
calibrated on ``--calib-images`` training images, as experiments.convert does). The
thresholds are folded into the next layer's weights unless ``--no-fold`` (then ``nir.Scale``
nodes keep neurosnn's arithmetic exactly; see neurosnn.io.nirio). ``--compare N`` runs the
file with nirtorch and with neurosnn on N test images of the SNN's data set (``delay="none"``,
the timing of NIR executors) and writes the accuracy of both per step, how often they agree,
and how often nirtorch agrees with the SNN exported, to NIR with .compare.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from neurosnn.experiments.common import (
    add_data_args,
    add_source_args,
    claim_output,
    load_data,
    load_source,
    new_parser,
    setup_logging,
)
from neurosnn.io.data import DATASETS
from neurosnn.io.output import one_line_errors, write_json
from neurosnn.jobs.convert import read_snn, saved_dataset

log = logging.getLogger("neurosnn.export")


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("python -m experiments.export", __doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--snn", help="a saved SNN (.snn.h5) or a NIR file (.nir) to export")
    source.add_argument(
        "--search", help="an experiments.neuroevolve output folder: export its tuned SNN"
    )
    add_source_args(p, group=source, dataset=False)
    p.add_argument(
        "--percentile",
        type=float,
        default=99.7,
        help="with --checkpoint/--model: the thresholds' percentile of all of each layer's "
        "outputs (default: %(default)s)",
    )
    p.add_argument(
        "--phi",
        type=float,
        default=0.0,
        help="with --checkpoint/--model: initial potential phi*theta (default: %(default)s)",
    )
    p.add_argument(
        "--calib-images",
        type=int,
        default=2000,
        help="with --checkpoint/--model: training images that calibrate the conversion "
        "(default: %(default)s)",
    )
    p.add_argument("--nir", required=True, help="the NIR file to write (e.g. tuned.nir)")
    p.add_argument(
        "--no-fold",
        action="store_true",
        help="keep thresholds as nir.Scale nodes after each IF layer (exact round trip; not "
        "every NIR importer maps Scale) instead of folding them into the next weights",
    )
    p.add_argument(
        "--compare",
        type=int,
        default=0,
        metavar="N",
        help="run the written file with nirtorch and neurosnn on N test images and report "
        "their agreement per step (default: %(default)s, no check)",
    )
    p.add_argument(
        "--timesteps", type=int, default=100, help="T of the comparison (default: %(default)s)"
    )
    p.add_argument(
        "--batch-size", type=int, default=100, help="comparison batch (default: %(default)s)"
    )
    add_data_args(p, dataset=False)
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="with --model: the data set to calibrate (and compare) on; with --snn and "
        "--compare: the data set, where the file does not say which",
    )
    return p


def _source(args) -> Path:
    path = Path(args.snn) if args.snn else Path(args.search) / "optimized.snn.h5"
    if not path.is_file():
        what = "--snn" if args.snn else "--search (its optimized.snn.h5)"
        raise SystemExit(f"error: {what}: {path} is not a file")
    return path


def _converted(args):
    """``(SNN, source metadata, data, the file it came from)`` of --checkpoint or --model."""
    from neurosnn.io.snnfile import source_of
    from neurosnn.jobs.convert import ConvertConfig, convert_checkpoint

    ckpt, data, path = load_source(args)
    cfg = ConvertConfig(
        checkpoint=path,
        model=args.model,
        save_snn=False,
        percentile=args.percentile,
        phi=args.phi,
        calib_images=args.calib_images,
        test_images=args.compare or None,
    )
    snn = convert_checkpoint(cfg, ckpt, data, Path(path)).snn
    source = source_of(path, ckpt, "neurosnn.experiments.export", percentile=args.percentile)
    return snn, source, data, Path(path)


def _compare(args, out: Path, snn, data) -> dict:
    from neurosnn.io.data import seeded_subset
    from neurosnn.io.nirconsumer import compare

    test, indices = seeded_subset(data.test, args.compare, 0)
    log.info("comparing nirtorch and neurosnn on %d test images, T=%d", len(test), args.timesteps)
    curves = compare(out, test.batches(args.batch_size), args.timesteps, original=snn)
    return {"file": str(out), "test_images": len(test), "test_indices": indices, **curves}


def _saved_data(args, path: Path, source: dict):
    """The test data a saved SNN's file names (or ``--dataset``), normalised as it says."""
    from neurosnn.io.data import with_normalisation

    data = load_data(saved_dataset(path, source, args.dataset), args.data_root, allow_subset=True)
    if "mean" in source and "std" in source:
        data = with_normalisation(data, tuple(source["mean"]), tuple(source["std"]))
    return data


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.compare < 0 or args.timesteps < 1 or args.batch_size < 1:
        raise SystemExit("error: --compare must be >= 0, --timesteps and --batch-size >= 1")
    ann = args.checkpoint or args.model
    if not ann and (args.weights or args.input_shape):
        raise SystemExit("error: --weights and --input-shape go with --model")
    inputs = [Path(p) for p in (args.weights, args.checkpoint) if p] if ann else [_source(args)]
    out = claim_output(args.nir, "file", "--nir", inputs=tuple(inputs), formats=("hdf5",))
    setup_logging(out.with_suffix(".log"))
    from neurosnn.io.nirio import write_nir

    if ann:
        snn, source, data, path = _converted(args)
    else:
        path = inputs[0]
        snn, source, _ = read_snn(path)
        data = None
    write_nir(out, snn, fold=not args.no_fold, metadata={**source, "exported_from": str(path)})
    log.info("wrote %s (%d layers, thresholds %s)", out, len(snn.layer_names), snn.thresholds)
    print(f"NIR file: {out}  (neurosnn.io.nirio.read_nir, or any NIR importer)")
    if args.compare:
        if data is None:
            data = _saved_data(args, path, source)
        report = _compare(args, out, snn, data)
        write_json(out.with_suffix(".compare.json"), report)
        same = report["same"]
        print(
            f"nirtorch vs neurosnn on {report['test_images']} images: same prediction at "
            f"{100 * min(same):.2f}–{100 * max(same):.2f}% of images per step; accuracy at T "
            f"{100 * report['nirtorch'][-1]:.2f}% (nirtorch) / {100 * report['neurosnn'][-1]:.2f}% "
            f"(neurosnn); NIR's own IF (reset to 0, fire on >): {100 * report['nir_if'][-1]:.2f}%"
        )
        agree = report["same_as_original"]
        print(
            f"nirtorch vs the SNN exported ({path.name}): same prediction at "
            f"{100 * min(agree):.2f}–{100 * max(agree):.2f}% of images per step; its accuracy "
            f"at T {100 * report['original'][-1]:.2f}%"
        )
        print(f"per step: {out.with_suffix('.compare.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
