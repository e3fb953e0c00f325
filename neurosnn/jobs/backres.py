"""Conversion of BackRes networks against the plain VGG of the same logical depth as a job
(Panda, Aketi & Roy 2020, Table 2 and Fig. 7): each network trained (or its checkpoint
reused), converted at the 99.7 percentile with one threshold per unrolling step and simulated;
accuracy at several T, unique parameters, energy and the thresholds per unrolling step. The
command is ``experiments.backres``.

    data = load_dataset("fashion-mnist")
    summary = run_backres(BackResConfig(nets=("vgg7", "vgg2x4")), data, Path("runs/backres"))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from neurosnn.config.backres import BackResConfig
from neurosnn.errors import UserError
from neurosnn.io.data import Dataset, subset_size
from neurosnn.io.output import write_json

log = logging.getLogger("neurosnn.backres")

CHECKPOINT = "checkpoint.pt"


def step_thresholds(layer_names: list[str], thresholds: dict[str, float]) -> dict[str, list]:
    """Per re-used convolution, its thresholds in unrolling order (``path@1``, ``path@2`` …)."""
    steps: dict[str, list[float]] = {}
    for name in layer_names:
        if "@" in name and name in thresholds:
            steps.setdefault(name.split("@")[0], []).append(thresholds[name])
    return steps


def trained_model(name: str, cfg: BackResConfig, data: Dataset, folder: Path, progress: bool):
    """The network ``name`` trained for ``cfg.epochs``, its checkpoint in ``folder`` reused
    (an interrupted training resumes)."""
    import torch

    from neurosnn.io.checkpoint import load_checkpoint
    from neurosnn.learn.train import TrainConfig, train_ann
    from neurosnn.networks import create_network

    done = folder / CHECKPOINT
    if done.is_file() and load_checkpoint(done).epoch >= cfg.epochs:
        log.info("%s: reusing %s", name, done)
        return load_checkpoint(done).build()
    torch.manual_seed(cfg.seed)
    model = create_network(name, data.num_classes, data.in_channels, data.input_size, **cfg.options)
    tcfg = TrainConfig(epochs=cfg.epochs, seed=cfg.seed)
    train_ann(model, data, tcfg, folder, resume=True, device=cfg.device, progress=progress)
    return model


def run_network(name: str, cfg: BackResConfig, data, out: Path, progress: bool) -> dict[str, Any]:
    """Train (or reuse), convert and simulate one network into ``out/name``."""
    from neurosnn.conversion.pipeline import convert
    from neurosnn.io.record import RunWriter
    from neurosnn.learn.train import evaluate
    from neurosnn.measures.energy import energy_of, unique_parameters
    from neurosnn.simulation.run import simulate

    folder = out / name
    model = trained_model(name, cfg, data, folder, progress).cpu().eval()
    test = data.test.random_subset(subset_size(cfg.test_images, data.test), 0)
    shape = (data.in_channels, data.input_size, data.input_size)
    calib = data.train.random_subset(min(2000, len(data.train)), 0)
    snn = convert(model, (x for x, _ in calib.batches(256)), shape, 99.7, device=cfg.device)
    T = max(cfg.timesteps)
    with RunWriter(folder / "convert.h5", {"network": name, "options": cfg.options}) as writer:
        result = simulate(snn, test.batches(256), T, progress=progress)
        writer.write_result(result, snn.percentiles, {"network": name})
    thresholds = dict(zip(snn.if_names, snn.thresholds, strict=True))
    steps = step_thresholds(snn.layer_names, thresholds)
    return {
        "ann_accuracy": evaluate(model, test),
        "snn_accuracy": {str(t): float(result.accuracy[t - 1]) for t in sorted(cfg.timesteps)},
        "unique_parameters": unique_parameters(model),
        "logical_depth": len(snn.layer_names),
        "energy": energy_of(result).as_dict(),
        "step_thresholds": steps,
        "thresholds_increase_with_n": {
            k: all(a < b for a, b in zip(v, v[1:], strict=False)) for k, v in steps.items()
        },
        "spikes_per_image": {
            n: float(c.sum()) / result.n_images for n, c in result.spike_counts.items()
        },
    }


def run_backres(
    cfg: BackResConfig, data: Dataset, out: Path, progress: bool = True
) -> dict[str, Any]:
    """Every network of ``cfg`` on a training subset of ``data``; writes out/<net>/checkpoint.pt,
    out/<net>/convert.h5 and out/summary.json, which it returns."""
    from neurosnn.networks import list_networks

    unknown = [n for n in cfg.nets if n not in list_networks()]
    if unknown:
        raise UserError(f"nets: unknown networks {unknown}; known: {', '.join(list_networks())}")
    start = time.perf_counter()
    n_train = subset_size(cfg.train_images, data.train)
    data = dataclasses.replace(data, train=data.train.random_subset(n_train, cfg.seed))
    results = {n: run_network(n, cfg, data, out, progress) for n in cfg.nets}
    summary = {
        "networks": results,
        "options": cfg.options,
        "epochs": cfg.epochs,
        "train_images": n_train,
        "timesteps": sorted(cfg.timesteps),
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(out / "summary.json", summary)
    return summary
