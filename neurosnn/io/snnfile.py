"""A converted SNN as a file to keep: its graph (layers, connections, operators, shapes),
weights, thresholds and every conversion option, loaded without pickled code, without the ANN
it came from and without the network registry: any converted model saves and loads.

    save_snn("tuned.snn.h5", snn, {"dataset": "fashion-mnist", "mean": [...], "std": [...]})
    snn, metadata = load_snn("tuned.snn.h5")

The file is HDF5 (``neurosnn.io.record``'s arrays layout, format ``"neurosnn-snn"``):

    /connections:<source>-><target> every connection's operator tensors as the SNN holds them
                                    (folded, channel-rescaled or fine-tuned weights), keyed
                                    like the operators' ``state_dict``
    /activation:<layer>/threshold   the trained λ of a QCFS layer
    /calibration:<layer>/counts     the activation histogram (max and zeros in metadata)
    /channel_scales:<layer>/scales  the channel thresholds of channel-wise layers
    /offset:<layer>/offset          the per-neuron initial potential of a layer where a
                                    potential calibration set one
    attrs metadata (JSON)           the graph (input shape; nodes with shape and activation;
                                    edges with each operator's type and settings), thresholds,
                                    φ, percentiles, percentile_of, channel-wise layers, and the
                                    caller's metadata ("source": checkpoint, data set,
                                    normalisation, network, search …)

The loaded SNN gives the saved one's spikes exactly (tested).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurosnn.conversion.build import build_network
from neurosnn.errors import UserError
from neurosnn.io.record import SNN_FORMAT, read_arrays, write_arrays
from neurosnn.io.values import check_setting, check_values
from neurosnn.networks.blocks import QCFS
from neurosnn.snn.graph import Edge, Node, SNNGraph
from neurosnn.snn.network import ActivationHistogram, ConvertedSNN, require_snn
from neurosnn.snn.synapses import ChannelPad, ScaleShift, UnitSpikes

FILE_VERSION = 2

# operator type → (class, the settings that rebuild it; tensors come from its state_dict)
_OPS: dict[str, tuple[type, tuple[str, ...]]] = {
    "Conv2d": (
        nn.Conv2d,
        (
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "groups",
            "padding_mode",
        ),
    ),
    "Linear": (nn.Linear, ("in_features", "out_features")),
    "AvgPool2d": (
        nn.AvgPool2d,
        ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    ),
    "MaxPool2d": (nn.MaxPool2d, ("kernel_size", "stride", "padding", "ceil_mode")),
    "Flatten": (nn.Flatten, ("start_dim", "end_dim")),
    "ChannelPad": (ChannelPad, ("before", "after")),
    "ScaleShift": (ScaleShift, ()),
    "UnitSpikes": (UnitSpikes, ()),
}


def _key(source: str, target: str, k: int = 0) -> str:
    """The group of a connection (the k-th further one between the same layers: ``#k``)."""
    return f"{source}->{target}" + (f"#{k}" if k else "")


def source_of(checkpoint: str, ckpt, made_by: str, **extra: Any) -> dict[str, Any]:
    """What a saved SNN records of where it came from: the checkpoint, its network, data set
    and normalisation (so that ``experiments.convert --snn`` can test it without the ANN)."""
    import dataclasses

    from neurosnn.io.checkpoint import resolve

    return {
        "made_by": made_by,
        "checkpoint": str(resolve(checkpoint)),
        "network": dataclasses.asdict(ckpt.spec),
        "dataset": ckpt.dataset,
        "mean": list(ckpt.mean),
        "std": list(ckpt.std),
        "ann_test_accuracy": ckpt.test_accuracy,
        **extra,
    }


# settings added after files were first written, with the value those files mean
OPTIONAL = {"ceil_mode": False}


def _op_spec(m: nn.Module) -> dict[str, Any]:
    kind = type(m).__name__
    if kind not in _OPS:
        raise UserError(f"an SNN with a {kind} operator cannot be saved")
    spec: dict[str, Any] = {"type": kind}
    for name in _OPS[kind][1]:
        value = getattr(m, name)
        spec[name] = list(value) if isinstance(value, tuple) else value
    if isinstance(m, nn.Conv2d | nn.Linear):
        spec["bias"] = m.bias is not None
    if isinstance(m, ScaleShift):
        spec["scale_shape"] = list(m.scale.shape)
        spec["shift_shape"] = None if m.shift is None else list(m.shift.shape)
    return spec


def _build_op(spec: dict[str, Any]) -> nn.Module:
    kind = spec["type"]
    if kind not in _OPS:
        raise UserError(f"unknown operator type {kind!r}")
    cls, names = _OPS[kind]
    spec = {**OPTIONAL, **spec}
    kw = {n: tuple(spec[n]) if isinstance(spec[n], list) else spec[n] for n in names}
    if kind in ("Conv2d", "Linear"):
        kw["bias"] = spec["bias"]
    if kind == "ScaleShift":
        shift = spec["shift_shape"]
        return ScaleShift(
            torch.ones(spec["scale_shape"]), None if shift is None else torch.zeros(shift)
        )
    return cls(**kw)


def _activation_spec(act: nn.Module | None) -> dict[str, Any] | None:
    if act is None:
        return None
    if isinstance(act, QCFS):
        return {"type": "qcfs", "levels": act.levels}
    if isinstance(act, nn.ReLU):
        return {"type": "relu"}
    if isinstance(act, nn.Hardtanh):
        return {"type": "clip", "max": float(act.max_val)}
    raise UserError(f"an SNN whose layers replace {type(act).__name__} cannot be saved")


def save_snn(path: str | Path, snn: ConvertedSNN, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``snn`` and ``metadata`` (plain JSON: where it came from) to ``path``.

    The file is self-contained (HDF5: the graph, weights, thresholds, φ and calibration) and
    written whole or not at all.

    Args:
        path: the file to write (``.snn.h5`` by convention).
        snn: the converted SNN.
        metadata: JSON-serialisable facts to keep with it (read back as
            ``load_snn(path)[1]["source"]``).

    Returns:
        ``path``."""
    require_snn(snn, "save_snn(path, snn)")
    graph = snn.to_graph()
    arrays: dict[str, dict[str, np.ndarray]] = {}
    edges = []
    for edge, (key, conn) in zip(graph.edges, snn.network.connections.items(), strict=True):
        ops = [_op_spec(m) for m in edge.ops]
        edges.append({"source": edge.source, "target": edge.target, "ops": ops})
        arrays[f"connections:{_key(*key)}"] = {
            k: v.detach().cpu().numpy() for k, v in conn.ops.state_dict().items()
        }
    nodes = []
    for node in graph.nodes:
        nodes.append(
            {
                "name": node.name,
                "shape": list(node.shape),
                "activation": _activation_spec(node.activation),
            }
        )
        if isinstance(node.activation, QCFS):
            arrays[f"activation:{node.name}"] = {
                "threshold": node.activation.threshold.detach().cpu().numpy()
            }
    for name, hist in snn.calibration.items():
        arrays[f"calibration:{name}"] = {"counts": hist.counts.cpu().numpy()}
    for name, scales in snn.channel_scales.items():
        arrays[f"channel_scales:{name}"] = {"scales": scales.cpu().numpy()}
    offsets = snn.offset_layers
    for name in offsets:
        arrays[f"offset:{name}"] = {"offset": snn.layer(name).offset.cpu().numpy()}
    meta: dict[str, Any] = {
        "version": FILE_VERSION,
        "graph": {"input_shape": list(snn.input_shape), "nodes": nodes, "edges": edges},
        "layer_names": snn.layer_names,
        "thresholds": snn.thresholds,
        "phi": snn.phi,
        "percentiles": snn.percentiles,
        "percentile_of": snn.percentile_of,
        "channelwise": sorted(snn.channel_scales),
        "offsets": offsets,
        "calibration": {n: [h.max, h.zeros] for n, h in snn.calibration.items()},
        "source": metadata or {},
    }
    meta["sha256"] = _digest(arrays, json.loads(json.dumps(meta, default=str)))
    return write_arrays(path, arrays, meta, fmt=SNN_FORMAT)


def _digest(arrays: dict[str, dict[str, np.ndarray]], meta: dict[str, Any]) -> str:
    """SHA-256 of every array (name, type, shape, bytes) and of the metadata but itself."""
    h = hashlib.sha256()
    for group in sorted(arrays):
        for name in sorted(arrays[group]):
            a = np.ascontiguousarray(arrays[group][name])
            h.update(f"{group}/{name}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    rest = {k: v for k, v in meta.items() if k != "sha256"}
    h.update(json.dumps(rest, sort_keys=True).encode())
    return h.hexdigest()


def load_snn(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[ConvertedSNN, dict[str, Any]]:
    """The SNN saved in ``path`` and the metadata saved with it (``"source"``: the caller's).

    Args:
        path: a file written by ``save_snn`` (``.snn.h5``); no model code is needed.
        device: where to put the SNN.

    Returns:
        ``(snn, metadata)``: the SNN as saved (weights, thresholds, φ, calibration) and the
        file's metadata, ``metadata["source"]`` being what the caller passed to ``save_snn``."""
    path = Path(path)
    arrays, meta = read_arrays(path, fmt=SNN_FORMAT)
    if meta.get("version") != FILE_VERSION:
        raise UserError(
            f"{path} is an SNN file of version {meta.get('version')}; this neurosnn reads "
            f"version {FILE_VERSION} (convert the checkpoint again to save it anew)"
        )
    if meta.get("sha256") != _digest(arrays, meta):
        raise UserError(
            f"{path}: its weights, thresholds or layout do not match the checksum saved with "
            "them; the file is damaged or was edited"
        )
    try:
        for group, values in arrays.items():
            for name, a in values.items():
                check_values(a, f"{group}/{name}")
        _check_shapes(arrays, meta)
        snn = _rebuild(arrays, meta)
    except UserError as err:
        raise UserError(f"{path}: {err}") from err
    except Exception as err:  # a crafted layout: any failure to rebuild is the file's
        raise UserError(f"{path} is not a complete neurosnn SNN file: {err!r}") from err
    return snn.to(device), meta


# an SNN's one layer or input this large cannot be what neurosnn saved: refused before any
# module allocates it
MAX_ELEMENTS = 2**31


def _expected_state(spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The shapes of an operator's tensors that its settings imply."""
    kind = spec["type"]
    if kind == "Conv2d":
        k = spec["kernel_size"]
        kh, kw = (k, k) if isinstance(k, int) else k
        shapes = {"weight": (spec["out_channels"], spec["in_channels"] // spec["groups"], kh, kw)}
        return shapes | ({"bias": (spec["out_channels"],)} if spec["bias"] else {})
    if kind == "Linear":
        shapes = {"weight": (spec["out_features"], spec["in_features"])}
        return shapes | ({"bias": (spec["out_features"],)} if spec["bias"] else {})
    if kind == "ScaleShift":
        shift = spec["shift_shape"]
        return {"scale": tuple(spec["scale_shape"])} | (
            {} if shift is None else {"shift": tuple(shift)}
        )
    return {}


# each operator setting's least value (``None``: the setting may be None)
_LEAST = {"padding": 0, "before": 0, "after": 0, "start_dim": -8, "end_dim": -8}
_OPTIONAL = ("stride", "divisor_override")
_FLAGS = ("ceil_mode", "count_include_pad", "bias")


def _check_settings(op: dict[str, Any], where: str) -> None:
    """Raise ``UserError`` where an operator's saved settings are out of range (a Conv2d
    whose groups do not divide its channels, a zero kernel or stride …)."""
    kind = op["type"]
    for name in _OPS[kind][1]:
        value = op.get(name, OPTIONAL.get(name)) if name in OPTIONAL else op[name]
        what = f"{where}: {kind} {name}"
        if name == "padding_mode":
            if value != "zeros":
                raise UserError(f"{what} is {value!r}; neurosnn converts 'zeros' only")
        elif name in _FLAGS:
            if not isinstance(value, bool):
                raise UserError(f"{what} is {value!r}; expected true or false")
        else:
            check_setting(value, what, _LEAST.get(name, 1), none=name in _OPTIONAL)
    if kind == "Conv2d":
        groups = op["groups"]
        if op["in_channels"] % groups or op["out_channels"] % groups:
            raise UserError(f"{where}: Conv2d groups {groups} do not divide its channels")
    for name in ("scale_shape", "shift_shape"):
        if name in op:
            check_setting(op[name], f"{where}: {kind} {name}", 1, none=name == "shift_shape")


def _check_shapes(arrays: dict[str, dict[str, np.ndarray]], meta: dict[str, Any]) -> None:
    """Raise where an operator's settings are out of range, a stored tensor is not the shape
    they imply, or a layer is implausibly large: before any module is built."""
    graph = meta["graph"]
    for shape in [graph["input_shape"], *(n["shape"] for n in graph["nodes"])]:
        if int(np.prod(shape, dtype=np.float64)) > MAX_ELEMENTS:
            raise ValueError(f"a layer of shape {shape}")
    seen: dict[tuple[str, str], int] = {}
    for e in graph["edges"]:
        pair = (e["source"], e["target"])
        seen[pair] = seen.get(pair, -1) + 1
        state = arrays[f"connections:{_key(*pair, seen[pair])}"]
        for i, op in enumerate(e["ops"]):
            if op.get("type") not in _OPS:
                raise UserError(f"connection {pair[0]} -> {pair[1]}: unknown operator {op}")
            _check_settings(op, f"connection {pair[0]} -> {pair[1]}")
            for name, shape in _expected_state(op).items():
                found = state[f"{i}.{name}"].shape
                if tuple(found) != tuple(shape):
                    raise ValueError(
                        f"connection {pair[0]} -> {pair[1]}: {op['type']} {name} is {found}, "
                        f"its settings say {shape}"
                    )


def _activation(spec: dict[str, Any] | None, arrays, name: str) -> nn.Module | None:
    if spec is None:
        return None
    if spec["type"] == "relu":
        return nn.ReLU()
    if spec["type"] == "clip":
        top = spec.get("max")
        if isinstance(top, bool) or not isinstance(top, int | float) or not 0 < top < np.inf:
            raise UserError(f"layer {name}: a clipped ReLU's clip is {top!r}; expected > 0")
        return nn.Hardtanh(0.0, float(top))
    if spec["type"] == "qcfs":
        threshold = float(np.asarray(arrays[f"activation:{name}"]["threshold"]))
        return QCFS(int(spec["levels"]), threshold).eval().requires_grad_(False)
    raise UserError(f"layer {name}: unknown activation {spec['type']!r}")


def _rebuild(arrays: dict[str, dict[str, np.ndarray]], meta: dict[str, Any]) -> ConvertedSNN:
    spec = meta["graph"]
    nodes = [
        Node(n["name"], tuple(n["shape"]), _activation(n["activation"], arrays, n["name"]))
        for n in spec["nodes"]
    ]
    edges, seen = [], {}
    for e in spec["edges"]:
        ops = nn.Sequential(*[_build_op(op) for op in e["ops"]])
        pair = (e["source"], e["target"])
        seen[pair] = seen.get(pair, -1) + 1
        state = arrays[f"connections:{_key(*pair, seen[pair])}"]
        ops.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        edges.append(Edge(e["source"], e["target"], ops.eval().requires_grad_(False)))
    graph = SNNGraph(tuple(spec["input_shape"]), nodes, edges)
    if graph.names != meta["layer_names"]:
        raise UserError(f"layers {graph.names} in the graph, {meta['layer_names']} saved")
    calibration = {
        name: ActivationHistogram(
            torch.from_numpy(np.array(arrays[f"calibration:{name}"]["counts"])), peak, zeros
        )
        for name, (peak, zeros) in meta["calibration"].items()
    }
    snn = ConvertedSNN(
        build_network(graph),
        graph.names,
        graph.input_shape,
        calibration,
        percentile_of=meta["percentile_of"],
        channel_scales={
            n: torch.from_numpy(np.array(arrays[f"channel_scales:{n}"]["scales"]))
            for n in meta["channelwise"]
        },
        activations={n.name: n.activation for n in nodes if n.activation is not None},
    )
    snn.set_thresholds(meta["thresholds"])
    snn.percentiles = meta["percentiles"]
    snn.set_phi(meta["phi"])
    snn.set_offsets(
        {
            n: torch.from_numpy(np.array(arrays[f"offset:{n}"]["offset"]))
            for n in meta.get("offsets", [])
        }
    )
    return snn
