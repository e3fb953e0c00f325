"""Export an SNN as a NIR file (the format snnTorch, Norse, sinabs, Lava-DL, Rockpool and
neuromorphic toolchains read), and check the file with another library.

The SNN is a saved one (--snn: a .snn.h5 of convert, search, bptt or latency, or a NIR file),
a search's result (--search: its folder), or a network converted here (--checkpoint, or
--model with --weights and --dataset: at --percentile of all outputs with --phi, calibrated on
--calib-images training images, as neurosnn convert does). The thresholds are folded into the
next layer's weights unless --no-fold (nir.Scale nodes then keep neurosnn's arithmetic
exactly). --nir-target writes the form another simulator's importer runs (norse, sinabs,
snntorch, spikingjelly). --compare N runs the file with that simulator (nirtorch for the
default) and with neurosnn on N test images of the SNN's data set (no layer delay: the timing
of NIR executors) and reports the accuracy of both per step and how often they agree.

Writes OUT/snn.nir, OUT/snn.compare.json (with --compare), OUT/export.log and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.common import Hardware, Output, Source
from neurosnn.config.export import ExportConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="export",
    description=__doc__,
    parts=(
        Part("source", Source),
        Part("export", ExportConfig),
        Part("output", Output, defaults={"out": ""}),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.export:run",
    examples=(
        "neurosnn export --snn runs/quickstart/latency/phi+onset.snn.h5 --out runs/nir",
        "neurosnn export --search runs/fmnist_vgg9_search --compare 2000 --out runs/tuned_nir",
        "neurosnn export --snn runs/quickstart/latency/all.snn.h5 --nir-target norse "
        "--compare 200 --out runs/norse_nir",
        "neurosnn export --model mymodels:build --weights w.pt --dataset fashion-mnist --phi 0.5 "
        "--out runs/mine_nir",
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def _files(job):
    """``(the NIR file, its log)``: in --out, or (0.2's form, deprecated) --nir FILE."""
    from pathlib import Path

    from neurosnn.errors import UserError

    if job.export.nir:
        print(
            f"note: --nir {job.export.nir} is 0.2's form; from 0.3 on, --out DIR writes DIR/snn.nir"
        )
        path = Path(job.export.nir)
        return path, path.with_suffix(".log"), None
    if not job.output.out:
        raise UserError("out: give --out DIR (the NIR file is DIR/snn.nir)")
    folder = Path(job.output.out)
    return folder / "snn.nir", folder / "export.log", folder


def _saved(export):
    from pathlib import Path

    from neurosnn.errors import UserError

    path = Path(export.snn) if export.snn else Path(export.search) / "optimized.snn.h5"
    if not path.is_file():
        what = "snn" if export.snn else "search (its optimized.snn.h5)"
        raise UserError(f"{what}: {path} is not a file")
    return path


def run(job) -> int:
    import logging
    from pathlib import Path

    from neurosnn.errors import UserError
    from neurosnn.experiments.common import claim_output, say, setup_logging
    from neurosnn.io.nirio import write_nir
    from neurosnn.io.nirtargets import TARGETS
    from neurosnn.io.output import write_json
    from neurosnn.jobs.convert import read_snn

    export, source = job.export, job.source
    if source.given == bool(export.snn or export.search):
        raise UserError("snn: give one network: --snn, --search, --checkpoint or --model")
    if source.given:
        source.require(one=True)
    nir, log_file, folder = _files(job)
    inputs = (*source.weights, *source.checkpoint) if source.given else (_saved(export),)
    if folder is None:
        claim_output(str(nir), "file", "--nir", inputs=inputs, formats=("hdf5",))
    else:
        claim_output(str(folder), inputs=inputs, beside=(nir,))
    setup_logging(log_file)
    if folder is not None:
        job.write_config(folder)
    device = job.hardware.apply()
    if source.given:
        snn, meta, data, path = _converted(export, source, device)
    else:
        path = inputs[0]
        snn, meta, _ = read_snn(path, device)
        data = None
    target = export.nir_target
    write_nir(
        nir, snn, fold=export.fold, metadata={**meta, "exported_from": str(path)}, target=target
    )
    logging.getLogger("neurosnn.export").info(
        "wrote %s (%d layers, thresholds %s)", nir, len(snn.layer_names), snn.thresholds
    )
    say(f"NIR file: {nir}  (for {target}: {TARGETS[target].call})")
    if export.compare and target not in ("neurosnn", "nirtorch"):
        if data is None:
            data = _saved_data(source, Path(path), meta)
        report = _compare_with(export, nir, snn.to("cpu"), data, job.output.progress)
        write_json(nir.with_suffix(".compare.json"), report)
        same = report["same"]
        say(
            f"{target} vs neurosnn on {report['test_images']} images: same prediction at "
            f"{100 * same[-1]:.2f}% of images at T ({100 * min(same):.2f}–{100 * max(same):.2f}% "
            f"per step); accuracy at T {100 * report[target][-1]:.2f}% ({target}) / "
            f"{100 * report['neurosnn'][-1]:.2f}% (neurosnn)",
            f"per step: {nir.with_suffix('.compare.json')}",
        )
    elif export.compare:
        if data is None:
            data = _saved_data(source, Path(path), meta)
        report = _compare(export, nir, snn.to("cpu"), data, job.output.progress)
        write_json(nir.with_suffix(".compare.json"), report)
        same, agree = report["same"], report["same_as_original"]
        say(
            f"nirtorch vs neurosnn on {report['test_images']} images: same prediction at "
            f"{100 * min(same):.2f}–{100 * max(same):.2f}% of images per step; accuracy at T "
            f"{100 * report['nirtorch'][-1]:.2f}% (nirtorch) / {100 * report['neurosnn'][-1]:.2f}% "
            f"(neurosnn); NIR's own IF (reset to 0, fire on >): {100 * report['nir_if'][-1]:.2f}%",
            f"nirtorch vs the SNN exported ({Path(path).name}): same prediction at "
            f"{100 * min(agree):.2f}–{100 * max(agree):.2f}% of images per step; its accuracy "
            f"at T {100 * report['original'][-1]:.2f}%",
            f"per step: {nir.with_suffix('.compare.json')}",
        )
    return 0


def _converted(export, source, device: str):
    """``(SNN, source metadata, data, the file it came from)`` of --checkpoint or --model."""
    from pathlib import Path

    from neurosnn.experiments.common import load_network
    from neurosnn.io.snnfile import source_of
    from neurosnn.jobs.convert import ConvertConfig, convert_checkpoint

    ckpt, data, path = load_network(source)
    cfg = ConvertConfig(
        checkpoint=path,
        model=source.model,
        save_snn=False,
        percentile=export.percentile,
        phi=export.phi,
        calib_images=export.calib_images,
        test_images=export.compare,
        device=device,
    )
    snn = convert_checkpoint(cfg, ckpt, data, Path(path)).snn
    meta = source_of(path, ckpt, "neurosnn.experiments.export", percentile=export.percentile)
    return snn, meta, data, Path(path)


def _compare(export, nir, snn, data, progress: bool) -> dict:

    from neurosnn.io.nirconsumer import compare

    test, indices, batches = _test_batches(export, data, "nirtorch", progress)
    curves = compare(nir, batches, export.timesteps, original=snn)
    return {"file": str(nir), "test_images": len(test), "test_indices": indices, **curves}


def _test_batches(export, data, simulator: str, progress: bool):
    """``(the --compare test images, their indices, their batches with a progress bar)``."""
    from tqdm.auto import tqdm

    from neurosnn.io.data import seeded_subset

    test, indices = seeded_subset(data.test, export.compare, 0)
    batches = tqdm(
        test.batches(export.batch_size),
        total=-(-len(test) // export.batch_size),
        desc=f"{simulator} vs neurosnn",
        unit="batch",
        disable=None if progress else True,
    )
    return test, indices, batches


def _compare_with(export, nir, snn, data, progress: bool) -> dict:
    """The --nir-target simulator (in its own environment where ``make consumers`` built one)
    against neurosnn's ``delay="none"`` run of the SNN exported, step by step."""
    import torch

    from neurosnn.errors import UserError
    from neurosnn.io.nirconsumer import predictions
    from neurosnn.io.nirconsumers import environment, run_in

    target, steps = export.nir_target, export.timesteps
    python = environment(target) or sys.executable
    test, indices, batches = _test_batches(export, data, target, progress)
    tally = {k: torch.zeros(steps, dtype=torch.float64) for k in ("neurosnn", target, "same")}
    for x, y in batches:
        ours = predictions(snn, x, steps)
        try:
            theirs = torch.from_numpy(run_in(target, nir, x.numpy(), steps, python).argmax(-1))
        except RuntimeError as err:
            raise UserError(f"{err} (make consumers builds each simulator's environment)") from err
        tally["neurosnn"] += (ours == y).sum(1)
        tally[target] += (theirs == y).sum(1)
        tally["same"] += (theirs == ours).sum(1)
    curves = {k: (v / len(test)).tolist() for k, v in tally.items()}
    return {
        "file": str(nir),
        "target": target,
        "python": str(python),
        "test_images": len(test),
        "test_indices": indices,
        **curves,
    }


def _saved_data(source, path, meta: dict):
    """The test data a saved SNN's file names (or --dataset), normalised as it says."""
    from neurosnn.experiments.common import load_data
    from neurosnn.io.data import with_normalisation
    from neurosnn.jobs.convert import saved_dataset

    name = saved_dataset(path, meta, source.dataset)
    data = load_data(name, source.data_root, allow_subset=True)
    if "mean" in meta and "std" in meta:
        data = with_normalisation(data, tuple(meta["mean"]), tuple(meta["std"]))
    return data


if __name__ == "__main__":
    sys.exit(main())
