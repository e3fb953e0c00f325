"""A converted SNN as a NIR graph (the Neuromorphic Intermediate Representation, ``nir`` >=
1.0.6, the extra ``neurosnn[nir]``), and a NIR graph as a converted SNN.

    write_nir("tuned.nir", snn, metadata={"dataset": "fashion-mnist"})
    snn, metadata = read_nir("tuned.nir")

Export: each connection's operators become NIR nodes (``Conv2d``, ``AvgPool2d``, ``Flatten``,
``Linear`` as ``Affine``), each IF layer ``nir.IF(r=1, v_threshold=θ, v_reset=0)`` and the output
integrator ``nir.I(r=1)``. neurosnn's spikes carry their layer's threshold (``ops(s·θ)``,
:mod:`neurosnn.synapses`); NIR spikes are 1, so the threshold goes either

* into the next layer's weights (``fold=True``, the default: ``W·θ``, what every NIR importer
  runs), or
* into a ``nir.Scale(θ)`` node after the IF layer (``fold=False``): the same arithmetic as
  neurosnn's, so neurosnn → NIR → neurosnn gives the original spikes exactly.

With ``fold=True`` the products ``W·θ`` are rounded once more than ``W·(θ·s)`` is, so a potential
that lands exactly on a threshold can fall either side: the re-imported network's spikes agree
with the original's to float rounding, not bit for bit (measured in the README).

What NIR cannot say goes into the graph's metadata (key ``"neurosnn"``, JSON): the subtractive
reset (NIR's IF resets to ``v_reset``), firing on ``v >= θ`` (NIR: ``>``), the initial potential
``φ·θ``, the input (the normalised image as a constant current every step), the timing (NIR
executors run ``delay="none"``: all layers within one step; neurosnn's default adds one step
per layer) and the caller's metadata. Spike max pooling (gated by spike counts) has no NIR node:
exporting it raises an error naming the layer.

Import accepts graphs of these node types in a chain from input to output; an IF layer not
followed by a ``Scale`` of its threshold emits unit spikes (:class:`UnitSpikes` opens the next
connection), so a folded file runs as written.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurosnn import __version__
from neurosnn.errors import UserError
from neurosnn.snn import INPUT, ConvertedSNN, build_network
from neurosnn.synapses import SpikeMaxPool2d

log = logging.getLogger(__name__)
METADATA_KEY = "neurosnn"
SEMANTICS = {
    "reset": "subtract: v -= theta on a spike (NIR's IF resets to v_reset)",
    "fires_on": "v >= v_threshold (NIR's IF: v > v_threshold)",
    "input": "the normalised image as a constant current, every step",
    "output": "the last node integrates its input (nir.I); the prediction is its argmax",
    "timing": "NIR runs all layers within one step (neurosnn delay='none'); neurosnn's "
    "default delay='layer' adds one step per layer",
}


class NIRError(UserError):
    """A network NIR cannot hold, or a NIR graph neurosnn cannot run."""


class UnitSpikes(nn.Module):
    """Opens a connection whose weights expect spikes of 1 (imported from a folded NIR graph):
    neurosnn hands a connection threshold-valued spikes ``s·θ``; this gives back ``s``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.ne(0).to(x.dtype)


def _nir():
    try:
        import nir
    except ImportError as err:
        raise ImportError(
            "NIR export and import need the nir package: pip install 'neurosnn[nir]'"
        ) from err
    return nir


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy().copy()


def to_nir(snn: ConvertedSNN, *, fold: bool = True, metadata: dict[str, Any] | None = None):
    """The NIR graph of ``snn`` (``fold``: thresholds into the next weights, else ``Scale``
    nodes; see the module docstring); ``metadata`` (plain JSON) goes into the graph's."""
    nir = _nir()
    nodes: dict[str, Any] = {INPUT: nir.Input(input_type={"input": np.array(snn.input_shape)})}
    chain = [INPUT]
    shape = tuple(snn.input_shape)
    theta: float | None = None  # the threshold of the layer feeding this connection
    for name in snn.layer_names:
        ops = list(snn.connection(name).ops)
        unit = bool(ops) and isinstance(ops[0], UnitSpikes)
        if unit:
            ops = ops[1:]
        scale = None if theta is None or unit else theta
        if scale is not None and not fold:
            nodes[f"{name}.scale"] = nir.Scale(scale=np.full(shape, scale, np.float32))
            chain.append(f"{name}.scale")
            scale = None
        for module in ops:
            key, node, shape = _export_op(nir, name, module, shape, scale)
            nodes[key] = node
            chain.append(key)
        layer_shape = tuple(snn.layer(name).shape)
        if name == snn.output_name:
            nodes[name] = nir.I(r=np.ones(layer_shape, np.float32))
        else:
            theta = float(snn.layer(name).thresh)
            nodes[name] = nir.IF(
                r=np.ones(layer_shape, np.float32),
                v_threshold=np.full(layer_shape, theta, np.float32),
                v_reset=np.zeros(layer_shape, np.float32),
            )
        chain.append(name)
        shape = layer_shape
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    chain.append("output")
    info = {
        "producer": f"neurosnn {__version__}",
        "semantics": SEMANTICS,
        "thresholds": "folded into the next layer's weights" if fold else "nir.Scale nodes",
        "layer_names": snn.layer_names,
        "phi": snn.phi,
        "channelwise": sorted(snn.channel_scales),
        "source": metadata or {},
    }
    edges = list(zip(chain[:-1], chain[1:], strict=True))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={METADATA_KEY: json.dumps(info)})


def _export_op(nir, layer: str, m: nn.Module, shape: tuple, scale: float | None):
    """``(node name, NIR node, output shape)`` of an operator ``m`` of ``layer``'s connection;
    ``scale``: the source threshold to fold into its weights (None: none)."""
    out = tuple(m(torch.zeros(1, *shape)).shape[1:])
    if isinstance(m, nn.Conv2d | nn.Linear):
        w = m.weight.detach().float()
        if scale is not None:
            w = w * scale  # in float32, as the spikes s·θ would be multiplied
        b = np.zeros(w.shape[0], np.float32) if m.bias is None else _np(m.bias)
        if isinstance(m, nn.Linear):
            return f"{layer}.affine", nir.Affine(weight=_np(w), bias=b), out
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise NIRError(f"layer {layer}: conv padding {m.padding!r}/{m.padding_mode}")
        node = nir.Conv2d(
            input_shape=shape[1:],
            weight=_np(w),
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            groups=m.groups,
            bias=b,
        )
        return f"{layer}.conv", node, out
    if isinstance(m, nn.AvgPool2d):
        pad = _pair(m.padding)
        if m.ceil_mode or (pad != (0, 0) and not m.count_include_pad):
            raise NIRError(f"layer {layer}: average pooling with ceil_mode or uncounted padding")
        node = nir.AvgPool2d(
            kernel_size=np.array(_pair(m.kernel_size)),
            stride=np.array(_pair(m.stride or m.kernel_size)),
            padding=np.array(pad),
        )
        return f"{layer}.pool", node, out
    if isinstance(m, nn.Flatten):  # NIR's dimensions do not count the batch
        end = m.end_dim - 1 if m.end_dim > 0 else m.end_dim
        node = nir.Flatten({"input": np.array(shape)}, start_dim=m.start_dim - 1, end_dim=end)
        return f"{layer}.flatten", node, out
    if isinstance(m, SpikeMaxPool2d):
        raise NIRError(
            f"layer {layer}: spike max pooling (each window gated by spike counts) has no NIR "
            "node; convert a network with average pooling (pool='avg')"
        )
    raise NIRError(f"layer {layer}: {type(m).__name__} has no NIR export")


def _pair(v) -> tuple[int, int]:
    """An int or a pair (tuple, list, array) as a pair of ints."""
    v = np.atleast_1d(np.asarray(v)).astype(int).tolist()
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def write_nir(
    path: str | Path,
    snn: ConvertedSNN,
    *,
    fold: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write :func:`to_nir` of ``snn`` to ``path`` (written whole or not at all)."""
    from neurosnn.output import atomic

    nir = _nir()
    graph = to_nir(snn, fold=fold, metadata=metadata)
    path = Path(path)
    with atomic(path) as tmp:
        nir.write(tmp, graph)
    return path


def read_nir(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[ConvertedSNN, dict[str, Any]]:
    """The SNN in the NIR file ``path`` and the neurosnn metadata it holds (``{}`` for a file
    another tool wrote; ``"source"``: the exporter's caller's metadata)."""
    nir = _nir()
    path = Path(path)
    try:
        graph = nir.read(path)
    except Exception as err:  # h5py and nir raise many types on a foreign or broken file
        raise NIRError(f"{path} is not a readable NIR file: {err}") from err
    try:
        return from_nir(graph, device)
    except NIRError as err:
        raise NIRError(f"{path}: {err}") from err


def from_nir(graph, device: torch.device | str = "cpu") -> tuple[ConvertedSNN, dict[str, Any]]:
    """A converted SNN from a NIR graph (see the module docstring for what it accepts)."""
    nir = _nir()
    info = graph_metadata(graph)
    chain = _chain(graph)
    first = graph.nodes[chain[0]]
    if not isinstance(first, nir.Input):
        raise NIRError(f"the graph starts at {chain[0]} ({type(first).__name__}), not an Input")
    input_shape = tuple(int(d) for d in first.input_type["input"])
    segments, thresholds, shape = [], [], input_shape
    ops: list[nn.Module] = []
    opened = False  # the connection being read has its first node (a Scale or an operator)
    for key in chain[1:]:
        node = graph.nodes[key]
        if isinstance(node, nir.Output):
            break
        if isinstance(node, nir.IF | nir.I):
            layer_shape = tuple(int(d) for d in node.r.shape)
            _check_ones(node.r, key, "r")
            if isinstance(node, nir.IF):
                thresholds.append(_uniform(node.v_threshold, key, "v_threshold"))
                if np.any(np.asarray(node.v_reset) != 0):
                    raise NIRError(f"node {key}: v_reset must be 0")
            if layer_shape != shape:
                raise NIRError(f"node {key}: neuron shape {layer_shape}, its input is {shape}")
            name = INPUT + "_" if key == INPUT else key
            segments.append((name, nn.Sequential(*ops).eval(), layer_shape, node))
            ops, opened = [], False
            continue
        after_if = bool(segments) and isinstance(segments[-1][3], nir.IF)
        if isinstance(node, nir.Scale) and after_if and not opened:
            if _uniform(node.scale, key, "scale") != thresholds[-1]:
                raise NIRError(f"node {key}: a Scale after an IF layer must equal its threshold")
            opened = True  # the spikes stay threshold-valued, neurosnn's own
            continue
        if after_if and not opened:
            ops.append(UnitSpikes())
        opened = True
        module = _import_op(nir, key, node)
        ops.append(module)
        with torch.no_grad():
            shape = tuple(module(torch.zeros(1, *shape)).shape[1:])
    kinds = [isinstance(node, nir.I) for *_, node in segments]
    if not kinds or not kinds[-1] or any(kinds[:-1]):
        raise NIRError("the last neuron node, and only it, must be the output integrator (nir.I)")
    built = [(name, ops, s) for name, ops, s, _ in segments]
    try:
        network, names = build_network(input_shape, built)
    except ValueError as err:  # a connection without exactly one weighted operator
        raise NIRError(str(err)) from err
    snn = ConvertedSNN(network, names, input_shape, calibration={})
    snn.set_thresholds(thresholds)
    phi = info.get("phi")
    snn.set_phi(phi if phi is not None and len(phi) == len(thresholds) else 0.0)
    if not info.get("semantics", {}).get("reset", "").startswith("subtract"):
        log.warning(
            "the graph does not say its IF neurons reset by subtraction; neurosnn simulates "
            "them so (NIR's IF resets to v_reset)"
        )
    return snn.to(device), info


def graph_metadata(graph) -> dict[str, Any]:
    """What neurosnn wrote into a NIR graph's metadata (``{}`` for another tool's graph)."""
    raw = (graph.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NIRError(f"the graph's {METADATA_KEY!r} metadata is not JSON: {err}") from err


def _chain(graph) -> list[str]:
    """The graph's nodes from input to output; anything but a chain is an error."""
    nxt: dict[str, str] = {}
    targets = set()
    for a, b in graph.edges:
        if a in nxt or b in targets:
            raise NIRError(f"the graph branches at {a if a in nxt else b}; only chains import")
        nxt[a] = b
        targets.add(b)
    starts = [k for k in graph.nodes if k not in targets]
    if len(starts) != 1:
        raise NIRError(f"the graph must have one input node, found {starts}")
    chain = [starts[0]]
    while chain[-1] in nxt:
        chain.append(nxt[chain[-1]])
    if len(chain) != len(graph.nodes):
        raise NIRError("the graph is not one chain from input to output")
    return chain


def _uniform(values, key: str, what: str) -> float:
    arr = np.asarray(values, dtype=np.float32)
    if arr.size == 0 or np.any(arr != arr.flat[0]):
        raise NIRError(f"node {key}: {what} must be one value for the whole layer")
    return float(arr.flat[0])


def _check_ones(values, key: str, what: str) -> None:
    if np.any(np.asarray(values) != 1):
        raise NIRError(f"node {key}: {what} must be 1")


def _import_op(nir, key: str, node) -> nn.Module:
    if isinstance(node, nir.Conv2d):
        w = torch.from_numpy(np.array(node.weight, np.float32))
        padding = node.padding if isinstance(node.padding, str) else _pair(node.padding)
        conv = nn.Conv2d(
            w.shape[1] * int(node.groups),
            w.shape[0],
            tuple(w.shape[2:]),
            stride=_pair(node.stride),
            padding=padding,
            dilation=_pair(node.dilation),
            groups=int(node.groups),
        )
        return _with_weights(conv, w, node.bias)
    if isinstance(node, nir.Affine | nir.Linear):
        w = torch.from_numpy(np.array(node.weight, np.float32))
        bias = getattr(node, "bias", None)
        return _with_weights(nn.Linear(w.shape[1], w.shape[0], bias=bias is not None), w, bias)
    if isinstance(node, nir.AvgPool2d):
        return nn.AvgPool2d(_pair(node.kernel_size), _pair(node.stride), _pair(node.padding))
    if isinstance(node, nir.Flatten):
        end = int(node.end_dim)
        return nn.Flatten(int(node.start_dim) + 1, end + 1 if end >= 0 else end)
    raise NIRError(f"node {key}: {type(node).__name__} is not one neurosnn can run")


def _with_weights(module: nn.Module, weight: torch.Tensor, bias) -> nn.Module:
    with torch.no_grad():
        module.weight.copy_(weight)
        if bias is not None:
            module.bias.copy_(torch.from_numpy(np.array(bias, np.float32)))
    return module.requires_grad_(False)
