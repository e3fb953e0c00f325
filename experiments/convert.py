"""Convert a trained ANN (a checkpoint of neurosnn train, or a model of your own) to a BindsNET SNN,
simulate it on the test set and record the run: accuracy per step, per-layer spike counts and
the spike trains of a few images. The converted SNN is saved beside the record; --snn simulates
and records a saved SNN (or a NIR file) without its ANN; --recipe applies any latency recipe.

Writes OUT/convert.h5 (the run record; OUT/convert.csv: the accuracy and firing rates per
step), OUT/convert.snn.h5 (the SNN), OUT/convert.log and OUT/config.yaml (rerun with
neurosnn convert --config OUT/config.yaml).
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from pathlib import Path

from neurosnn.config.common import Hardware, Output, Source
from neurosnn.config.convert import ConvertConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="convert",
    description=__doc__,
    parts=(
        Part("source", Source),
        Part("convert", ConvertConfig),
        Part("output", Output),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.convert:run",
    examples=(
        "neurosnn convert --checkpoint runs/fmnist_vgg9 --timesteps 200 --out runs/vgg9_snn",
        "neurosnn convert --checkpoint runs/fmnist_vgg9 --recipe phi+onset --out runs/vgg9_fast",
        "neurosnn convert --snn runs/vgg9_snn/convert.snn.h5 --out runs/again",
        "neurosnn convert --model mymodels:resnet --weights resnet.pt --dataset fashion-mnist "
        "--out runs/mine",
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def paths(out: str) -> tuple[Path, Path]:
    """``(run record, log)`` of ``--out``: a folder, or (0.2's form, deprecated) a file X.h5
    whose log and SNN are written beside it."""
    given = Path(out)
    if given.suffix == ".h5":
        warnings.warn(
            "--out FILE.h5 is deprecated since neurosnn 0.3 and goes in 0.4: --out is a folder "
            "(OUT/convert.h5, OUT/convert.snn.h5 …); writing FILE.h5 as 0.2 did",
            DeprecationWarning,
            stacklevel=2,
        )
        print(f"note: --out {given} is a file, as 0.2 wrote it; --out is a folder from 0.3 on")
        return given, given.with_suffix(".log")
    return given / "convert.h5", given / "convert.log"


def run(job) -> int:
    from neurosnn.errors import UserError
    from neurosnn.experiments.common import (
        claim_output,
        load_data,
        load_network,
        say,
        setup_logging,
    )
    from neurosnn.io.checkpoint import resolve
    from neurosnn.io.record import FORMAT as RUN_FORMAT
    from neurosnn.jobs.convert import (
        convert_checkpoint,
        from_saved,
        read_snn,
        record_run,
        saved_dataset,
        snn_path,
        summarise,
    )

    source, convert, output = job.source, job.convert, job.output
    if bool(convert.snn) == source.given:
        raise UserError("snn: give one network: --checkpoint, --model or --snn")
    if source.given:
        source.require(one=True)
    record, log = paths(output.out)
    folder = record.parent
    claim_output(
        str(folder if record.name == "convert.h5" else record),
        "folder" if record.name == "convert.h5" else "file",
        inputs=(convert.snn, *source.weights, *(resolve(c) for c in source.checkpoint)),
        beside=(record, snn_path(record), log, record.with_suffix(".csv")),
        formats=(RUN_FORMAT,),
    )
    setup_logging(log)
    device = job.hardware.apply()
    if convert.snn:
        cfg = dataclasses.replace(
            convert, dataset=source.dataset, data_root=source.data_root, device=device
        )
        snn, meta, spec = read_snn(cfg.snn, cfg.device)
        data = load_data(saved_dataset(cfg.snn, meta, cfg.dataset), cfg.data_root)
        run_source = from_saved(cfg, snn, meta, spec, data)
    else:
        ckpt, data, path = load_network(source)
        cfg = dataclasses.replace(
            convert,
            checkpoint=path,
            model=source.model,
            data_root=source.data_root,
            device=device,
        )
        run_source = convert_checkpoint(cfg, ckpt, data, record, progress=output.progress)
    if record.name == "convert.h5":
        job.write_config(folder)
    result, meta = record_run(cfg, run_source, record, progress=output.progress)
    s = summarise(result, meta["ann_accuracy"])
    ann = "n/a" if s["ann_accuracy"] is None else f"{s['ann_accuracy']:.4f}"
    say(
        f"ANN accuracy {ann}; SNN accuracy at T={cfg.timesteps}: "
        f"{s['snn_final_accuracy']:.4f} (best {s['snn_best_accuracy']:.4f}); "
        f"within 1% of the ANN from step {s['steps_to_ann_minus_1pct']}; "
        f"{s['test_images']} images in {s['simulation_seconds']:.0f} s; record: {record}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
