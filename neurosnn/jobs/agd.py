"""AGD training from scratch as a job (Panda, Aketi & Roy 2020 §3.2, §5, §6): one network as
an LIF SNN with a softmax or a stochmax classifier and as a hybrid with its first layers ReLU,
each trained end to end with surrogate gradients and evaluated per step, with its energy
against the ANN. The command is ``experiments.agd``.

    data = load_dataset("fashion-mnist")
    summary = run_agd(AGDJobConfig(epochs=1), data, Path("runs/agd"))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from neurosnn.config.agd import AGDJobConfig
from neurosnn.io.data import Dataset, subset_size
from neurosnn.io.output import write_json

log = logging.getLogger("neurosnn.agd")


def snn_energy(net, images_shape, layer_spikes: dict[str, float], timesteps: int) -> dict:
    """Energy of a ``SpikingNet`` from its per-image spikes per layer."""
    import torch

    from neurosnn.measures.energy import energy
    from neurosnn.snn.macs import chain_inputs, connection_macs

    shapes, macs, x = {}, {}, torch.zeros(1, *images_shape)
    with torch.no_grad():
        for name, stage in zip(net.names, net.stages, strict=True):
            macs[name] = connection_macs(stage, tuple(x.shape[1:]))
            x = stage(x)
            shapes[name] = tuple(x.shape[1:])
    analog = net.names[: net.cfg.relu_layers]
    inputs = chain_inputs(net.names, macs)
    return energy(net.names, shapes, inputs, layer_spikes, 1, timesteps, analog).as_dict()


def run_agd(cfg: AGDJobConfig, data: Dataset, out: Path, progress: bool = True) -> dict[str, Any]:
    """Train and test every variant of ``cfg`` on ``data``; writes out/agd.h5 (each variant's
    accuracy per step and input activity per layer) and out/summary.json, which it returns."""
    import torch

    from neurosnn.io.record import write_arrays
    from neurosnn.learn.surrogate.agd import (
        AGDConfig,
        SpikingNet,
        TrainAGDConfig,
        evaluate_agd,
        train_agd,
    )
    from neurosnn.networks import create_network

    start = time.perf_counter()
    train = data.train.random_subset(subset_size(cfg.train_images, data.train), cfg.seed)
    test = data.test.random_subset(subset_size(cfg.test_images, data.test), 0)
    shape = (data.in_channels, data.input_size, data.input_size)
    results = {}
    for variant in cfg.variants:
        torch.manual_seed(cfg.seed)
        model = create_network(cfg.net, data.num_classes, shape[0], shape[1], **cfg.options)
        net_cfg = AGDConfig(
            timesteps=cfg.timesteps,
            leak=cfg.leak,
            stochmax=variant == "stochmax",
            relu_layers=cfg.hybrid_relu_layers if variant == "hybrid" else 0,
        )
        net = SpikingNet(model, net_cfg, shape)
        tcfg = TrainAGDConfig(epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed)
        history = train_agd(net, train, tcfg, cfg.device, progress)
        ev = evaluate_agd(net, test, cfg.device)
        results[variant] = {
            "config": dataclasses.asdict(net_cfg),
            "history": history,
            "accuracy": ev["accuracy"],
            "accuracy_at": {str(t): ev["accuracy"][t - 1] for t in cfg.report_steps},
            "spikes_per_image": ev["spikes_per_image"],
            "energy": snn_energy(net.cpu(), shape, ev["layer_spikes"], cfg.timesteps),
        }
        log.info("%s: accuracy at T %.4f", variant, ev["accuracy"][-1])
    summary = {
        "net": cfg.net,
        "options": cfg.options,
        "variants": results,
        "train_images": len(train),
        "test_images": len(test),
        "timesteps": cfg.timesteps,
        "report_steps": list(cfg.report_steps),
        "wall_seconds": time.perf_counter() - start,
    }
    write_arrays(
        out / "agd.h5",
        {
            v: {"accuracy": r["accuracy"], "energy_activity": r["energy"]["activity"]}
            for v, r in results.items()
        },
        {"net": cfg.net, "options": cfg.options, "timesteps": cfg.timesteps},
    )
    write_json(out / "summary.json", summary)
    return summary
