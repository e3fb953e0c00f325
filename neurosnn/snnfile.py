"""A converted SNN as a file to keep: weights, thresholds and every conversion option, loaded
without pickled code and without the ANN checkpoint it came from.

    save_snn("tuned.snn.h5", snn, model, {"search": "runs/fmnist_vgg9/ne"})
    snn, metadata = load_snn("tuned.snn.h5")

The file is HDF5 (``neurosnn.record``'s arrays layout, format ``"neurosnn-snn"``):

    /ann/<parameter>                the ANN's state (its structure and QCFS λ rebuild the SNN)
    /connections:<source>-><target> every connection's parameters as the SNN holds them (the
                                    folded, channel-rescaled or fine-tuned weights)
    /calibration:<layer>/counts     the activation histogram (max and zeros in metadata)
    /channel_scales:<layer>/scales  the channel thresholds of channel-wise layers
    attrs metadata (JSON)           network spec, input shape, layer names, thresholds, φ,
                                    percentiles, percentile_of, channel-wise layers, and the
                                    caller's metadata (checkpoint, dataset, normalisation, search)

Loading rebuilds the network from the ANN exactly as :func:`neurosnn.convert.convert` does,
then puts back the saved connection weights, thresholds, φ and calibration: the loaded SNN
gives the saved one's spikes exactly (tested).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurosnn.convert import _as_snn_ops, _check_stages, _with_relus, ann_stages, stage_activations
from neurosnn.errors import UserError
from neurosnn.networks import NetworkSpec
from neurosnn.record import SNN_FORMAT, read_arrays, write_arrays
from neurosnn.snn import ActivationHistogram, ConvertedSNN, build_network

FILE_VERSION = 1


def _key(source: str, target: str) -> str:
    return f"{source}->{target}"


def source_of(checkpoint: str, ckpt, made_by: str, **extra: Any) -> dict[str, Any]:
    """What a saved SNN records of where it came from: the checkpoint, its data set and
    normalisation (so that ``experiments.convert --snn`` can test it without the ANN)."""
    from neurosnn.checkpoint import resolve

    return {
        "made_by": made_by,
        "checkpoint": str(resolve(checkpoint)),
        "dataset": ckpt.dataset,
        "mean": list(ckpt.mean),
        "std": list(ckpt.std),
        "ann_test_accuracy": ckpt.test_accuracy,
        **extra,
    }


def save_snn(
    path: str | Path,
    snn: ConvertedSNN,
    model: nn.Module,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``snn`` (converted from ``model``, a registry network) and ``metadata`` (plain
    JSON: where it came from) to ``path``."""
    if not hasattr(model, "spec"):
        raise ValueError("model must come from networks.create_network (it needs a spec)")
    arrays: dict[str, dict[str, np.ndarray]] = {
        "ann": {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    }
    for (source, target), conn in snn.network.connections.items():
        arrays[f"connections:{_key(source, target)}"] = {
            k: v.detach().cpu().numpy() for k, v in conn.ops.named_parameters()
        }
    for name, hist in snn.calibration.items():
        arrays[f"calibration:{name}"] = {"counts": hist.counts.cpu().numpy()}
    for name, scales in snn.channel_scales.items():
        arrays[f"channel_scales:{name}"] = {"scales": scales.cpu().numpy()}
    meta = {
        "version": FILE_VERSION,
        "spec": dataclasses.asdict(model.spec),
        "input_shape": list(snn.input_shape),
        "layer_names": snn.layer_names,
        "thresholds": snn.thresholds,
        "phi": snn.phi,
        "percentiles": snn.percentiles,
        "percentile_of": snn.percentile_of,
        "channelwise": sorted(snn.channel_scales),
        "calibration": {n: [h.max, h.zeros] for n, h in snn.calibration.items()},
        "source": metadata or {},
    }
    return write_arrays(path, arrays, meta, fmt=SNN_FORMAT)


def load_snn(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[ConvertedSNN, dict[str, Any]]:
    """The SNN saved in ``path`` and the metadata saved with it (``"source"``: the caller's)."""
    path = Path(path)
    arrays, meta = read_arrays(path, fmt=SNN_FORMAT)
    try:
        snn = _rebuild(arrays, meta)
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        raise UserError(f"{path} is not a complete neurosnn SNN file: {err}") from err
    return snn.to(device), meta


def _rebuild(arrays: dict[str, dict[str, np.ndarray]], meta: dict[str, Any]) -> ConvertedSNN:
    if meta.get("version") != FILE_VERSION:
        raise UserError(f"file version {meta.get('version')}, this neurosnn reads {FILE_VERSION}")
    ann = NetworkSpec(**meta["spec"]).build()
    ann.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays["ann"].items()})
    ann.eval()
    shape = tuple(meta["input_shape"])
    names, stages = (list(t) for t in zip(*ann_stages(ann), strict=True))
    if meta["channelwise"]:  # as convert: each stage its own modules, rescaled apart
        stages = [copy.deepcopy(stage) for stage in stages]
    probe = torch.zeros(1, *shape)
    shapes = _check_stages(stages, probe, _with_relus(ann)(probe))
    segments = [
        (name, _as_snn_ops(stage), s) for name, stage, s in zip(names, stages, shapes, strict=True)
    ]
    network, layer_names = build_network(shape, segments)
    if layer_names != meta["layer_names"]:
        raise UserError(f"layers {layer_names} rebuilt, {meta['layer_names']} saved")
    with torch.no_grad():
        for (source, target), conn in network.connections.items():
            saved = arrays[f"connections:{_key(source, target)}"]
            for k, p in conn.ops.named_parameters():
                p.copy_(torch.from_numpy(np.array(saved[k])))
    calibration = {
        name: ActivationHistogram(
            torch.from_numpy(np.array(arrays[f"calibration:{name}"]["counts"])), peak, zeros
        )
        for name, (peak, zeros) in meta["calibration"].items()
    }
    snn = ConvertedSNN(
        network,
        layer_names,
        shape,
        calibration,
        percentile_of=meta["percentile_of"],
        channel_scales={
            n: torch.from_numpy(np.array(arrays[f"channel_scales:{n}"]["scales"]))
            for n in meta["channelwise"]
        },
        activations=dict(zip(names, stage_activations(ann), strict=False)),
    )
    snn.set_thresholds(meta["thresholds"])
    snn.percentiles = meta["percentiles"]
    snn.set_phi(meta["phi"])
    return snn
