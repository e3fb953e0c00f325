"""Convert and record as a job: a checkpoint converted (or a saved SNN loaded), simulated on the
test set and written as an HDF5 run record; the command is ``experiments.convert``.

    ckpt = load_checkpoint("runs/fmnist_vgg9")
    data = with_normalisation(load_dataset(ckpt.dataset), ckpt.mean, ckpt.std)
    cfg = ConvertConfig(checkpoint="runs/fmnist_vgg9", timesteps=100, test_images=2000)
    result, meta = record_run(cfg, convert_checkpoint(cfg, ckpt, data, out), out)
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, NamedTuple

from neurosnn.config.convert import ConvertConfig
from neurosnn.conversion.pipeline import ann_graph
from neurosnn.errors import UserError
from neurosnn.io.checkpoint import Checkpoint, resolve
from neurosnn.io.data import Dataset, Split, seeded_subset
from neurosnn.io.record import RunWriter
from neurosnn.io.snnfile import source_of
from neurosnn.networks.blocks import QCFS
from neurosnn.simulation.curve import iso_accuracy_step
from neurosnn.simulation.run import SimResult
from neurosnn.snn.network import ConvertedSNN

log = logging.getLogger("neurosnn.conversion")


class Source(NamedTuple):
    """What a run simulates: the SNN, its test images, the metadata of where it came from and
    (where a recipe set them) the options it is run with."""

    snn: ConvertedSNN
    test: Split
    test_indices: list[int] | None
    metadata: dict[str, Any]
    config: ConvertConfig | None = None


def convert_checkpoint(
    cfg: ConvertConfig, ckpt: Checkpoint, data: Dataset, out: Path, progress: bool = True
) -> Source:
    """Convert the checkpoint's ANN as ``cfg`` says (``data`` normalised as it was trained);
    with ``cfg.save_snn`` the SNN is saved as ``snn_path`` of ``out``. With ``cfg.recipe`` the
    recipe converts it, and its search (in a folder beside ``out``), calibration and readout
    delay are prepared as the latency job prepares them; the source's ``config`` is then
    ``cfg`` with the recipe's conversion and timing."""
    from neurosnn.conversion.pipeline import convert
    from neurosnn.io.snnfile import save_snn
    from neurosnn.learn.train import evaluate

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
    shape = (data.in_channels, data.input_size, data.input_size)
    recipe = cfg.parsed_recipe
    if recipe is None:
        snn = convert(
            model,
            (x for x, _ in calib.batches(256)),
            shape,
            cfg.percentile,
            device=cfg.device,
            percentile_of=cfg.percentile_of,
            channelwise=cfg.channelwise,
            phi=cfg.phi,
        )
    else:
        snn, cfg = _with_recipe(cfg, recipe, model, data, calib, shape, out, progress)
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
            __name__,
            simulation=_simulation(cfg),
        )
        path = save_snn(snn_path(out), snn, source)
        log.info("the converted SNN is in %s", path)
    return Source(snn, test, test_indices, metadata, cfg)


def _with_recipe(cfg: ConvertConfig, recipe, model, data, calib, shape, out: Path, progress: bool):
    """The SNN of ``recipe``, prepared (search, calibration, readout delay k), and ``cfg`` with
    the recipe's options."""
    from neurosnn.config.recipe import Preparation
    from neurosnn.jobs.prepare import prepare

    batches = [x for x, _ in calib.batches(256)]
    qcfs = [isinstance(n.activation, QCFS) for n in ann_graph(model, shape).nodes[:-1]]
    if not recipe.applies_to(qcfs):
        raise UserError(
            f"recipe {recipe.name}: trained thresholds need a QCFS network, channel-wise and "
            "balanced ones a ReLU network"
        )
    snn = recipe.convert(model, batches, shape, cfg.device)
    trained = list(snn.thresholds)
    recipe.set_on(snn, trained)
    how = Preparation(timesteps=cfg.timesteps, batch_size=cfg.batch_size)
    k = prepare(snn, recipe, recipe.name, how, model, data, batches, out.parent, trained, progress)
    log.info("recipe %s: %s", recipe.name, str(recipe))
    return snn, dataclasses.replace(
        cfg,
        recipe=None,  # applied: its options are now cfg's
        percentile=recipe.percentile,
        percentile_of=recipe.percentile_of,
        channelwise=recipe.channelwise,
        phi=recipe.phi,
        delay=recipe.delay,
        bias_onset=recipe.bias_onset,
        presim=recipe.presim,
        readout_after=k.get(recipe.delay, 0),
    )


def _simulation(cfg: ConvertConfig) -> dict[str, Any]:
    """How the saved SNN is run: its timing, and the readout delay and SRP where set."""
    how: dict[str, Any] = {"delay": cfg.delay, "bias_onset": cfg.bias_onset}
    if cfg.readout_after:
        how["readout_after"] = {cfg.delay: cfg.readout_after}
    if cfg.presim:
        how["presim"] = cfg.presim
    return how


def read_snn(path: str | Path, device: str = "cpu") -> tuple[ConvertedSNN, dict, dict | None]:
    """A saved SNN (``.snn.h5``, ``neurosnn.io.snnfile``, or ``.nir``,
    ``neurosnn.io.nirio``), the metadata of where it came from (data set, normalisation …)
    and its network spec (None where the file does not say)."""
    if Path(path).suffix == ".nir":
        from neurosnn.io.nirio import read_nir

        snn, info = read_nir(path, device)
        return snn, info.get("source", {}), None
    from neurosnn.io.snnfile import load_snn

    snn, meta = load_snn(path, device)
    return snn, meta["source"], meta["source"].get("network")


def saved_dataset(path: str | Path, source: dict, dataset: str | None = None) -> str:
    """The data set to test a saved SNN on: ``dataset`` where given, else the one the file
    says it was made for (an error naming the file and the option where it says none)."""
    if dataset is not None:
        return dataset
    if "dataset" not in source:
        raise UserError(f"{path} does not say which data set it was made for; add --dataset NAME")
    return source["dataset"]


def from_saved(cfg: ConvertConfig, snn: ConvertedSNN, source: dict, spec, data: Dataset) -> Source:
    """The saved SNN ``cfg.snn`` (read by ``read_snn``) on ``data``, normalised as the
    file records."""
    from neurosnn.io.data import with_normalisation

    if "mean" in source and "std" in source:
        data = with_normalisation(data, tuple(source["mean"]), tuple(source["std"]))
    else:
        log.info("%s records no normalisation: the data set's own statistics", cfg.snn)
    test, test_indices = seeded_subset(data.test, cfg.test_images, cfg.seed)
    ann = source.get("ann_test_accuracy", source.get("ann_accuracy"))
    log.info("saved SNN %s (%s); the ANN is not loaded", cfg.snn, source.get("made_by", "?"))
    metadata = {
        "snn": str(cfg.snn),
        "network": spec,
        "dataset": data.name,
        "ann_accuracy": ann,  # as recorded when the SNN was made (not on these images)
        "test_images": len(test),
    }
    return Source(snn, test, test_indices, metadata)


def snn_path(out: Path) -> Path:
    """Where a conversion into ``out`` (a run record) saves its SNN: ``X.h5`` → ``X.snn.h5``."""
    return out.with_suffix(".snn.h5")


def record_run(
    cfg: ConvertConfig, source: Source, out: Path, progress: bool = True
) -> tuple[SimResult, dict[str, Any]]:
    """Simulate the SNN of ``source`` on its test images and write ``out`` (HDF5)."""
    from neurosnn.simulation.run import simulate

    snn, test, metadata = source.snn, source.test, dict(source.metadata)
    metadata["test_indices"] = source.test_indices
    cfg = source.config or cfg
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
            readout_after=cfg.readout_after,
            presim=cfg.presim,
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
