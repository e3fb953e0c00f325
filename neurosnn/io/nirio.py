"""A converted SNN as a NIR graph (the Neuromorphic Intermediate Representation, ``nir`` >=
1.0.6, the extra ``neurosnn[nir]``), and a NIR graph as a converted SNN.

    write_nir("tuned.nir", snn, metadata={"dataset": "fashion-mnist"})
    snn, metadata = read_nir("tuned.nir")

Export: each connection's operators become NIR nodes (``Conv2d``, ``AvgPool2d``, ``Flatten``,
``Linear`` as ``Affine``), each IF layer ``nir.IF(r=1, v_threshold=θ, v_reset=0)`` and the output
integrator ``nir.I(r=1)``. neurosnn's spikes carry their layer's threshold (``ops(s·θ)``,
``neurosnn.snn.synapses``); NIR spikes are 1, so the threshold goes either

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

A graph is exported as it is: each connection a chain of operator nodes from its source's neuron
node to its target's, a layer where several connections meet (a residual sum) a neuron node
with several inputs (NIR sums them), a connection whose threshold cannot go into weights (an
identity shortcut) a ``Scale`` node. Import accepts graphs of these node types in which only
neuron nodes sum inputs; an IF layer not followed by a ``Scale`` of its threshold emits unit
spikes (``neurosnn.snn.synapses.UnitSpikes`` opens the next connection), so a folded file
runs as written.
"""

from __future__ import annotations

import graphlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurosnn import __version__
from neurosnn.conversion.build import build_network
from neurosnn.errors import UserError
from neurosnn.io.nirops import NIRError, import_op, pair
from neurosnn.io.values import check_values
from neurosnn.snn.graph import INPUT, Edge, Node, SNNGraph
from neurosnn.snn.network import ConvertedSNN, require_snn
from neurosnn.snn.synapses import WEIGHTED, ChannelPad, ScaleShift, SpikeMaxPool2d, UnitSpikes

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
    offsets = snn.offset_layers
    if offsets:
        raise UserError(
            f"layers {', '.join(offsets)} start from per-neuron initial potentials (a "
            "potential calibration), which a NIR graph has no field for; export the SNN before "
            "calibrating its potentials, or keep it as an SNN file (save_snn)"
        )
    nir = _nir()
    nodes: dict[str, Any] = {INPUT: nir.Input(input_type={"input": np.array(snn.input_shape)})}
    edges: list[tuple[str, str]] = []
    shapes = {INPUT: tuple(snn.input_shape)}
    shapes.update({n: tuple(snn.layer(n).shape) for n in snn.layer_names})
    theta = dict(zip(snn.if_names, snn.thresholds, strict=True))
    for name in snn.layer_names:
        incoming = snn.incoming(name)
        for j, (source, conn) in enumerate(incoming):
            # a layer's one connection is named after it; several after their sources too
            prefix = name if len(incoming) == 1 else f"{name}.from.{source}"
            if sum(s == source for s, _ in incoming[:j]):
                prefix += f".{sum(s == source for s, _ in incoming[:j])}"
            last = _export_edge(
                nir,
                nodes,
                edges,
                prefix,
                source,
                list(conn.ops),
                shapes[source],
                theta.get(source),
                fold,
            )
            edges.append((last, name))
        layer_shape = shapes[name]
        if name == snn.output_name:
            nodes[name] = nir.I(r=np.ones(layer_shape, np.float32))
        else:
            nodes[name] = nir.IF(
                r=np.ones(layer_shape, np.float32),
                v_threshold=np.full(layer_shape, theta[name], np.float32),
                v_reset=np.zeros(layer_shape, np.float32),
            )
    nodes["output"] = nir.Output(output_type={"output": np.array(shapes[snn.output_name])})
    edges.append((snn.output_name, "output"))
    info = {
        "producer": f"neurosnn {__version__}",
        "semantics": SEMANTICS,
        "thresholds": "folded into the next layer's weights" if fold else "nir.Scale nodes",
        "layer_names": snn.layer_names,
        "phi": snn.phi,
        "channelwise": sorted(snn.channel_scales),
        "source": metadata or {},
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={METADATA_KEY: json.dumps(info)})


def _export_edge(nir, nodes, edges, prefix, source, ops, shape, theta, fold) -> str:
    """Add the NIR nodes of one connection from ``source``; returns the last one's name.
    ``theta``: the source's threshold (None for the input), folded into the connection's first
    Conv2d/Linear where only pooling and flatten come before it, else a ``Scale`` node."""
    unit = bool(ops) and isinstance(ops[0], UnitSpikes)
    if unit:
        ops = ops[1:]
    scale = None if theta is None or unit else theta
    first = next((i for i, m in enumerate(ops) if isinstance(m, WEIGHTED)), None)
    foldable = first is not None and all(
        isinstance(m, nn.AvgPool2d | nn.Flatten) for m in ops[:first]
    )
    prev = source
    if scale is not None and not (fold and foldable):
        nodes[f"{prefix}.scale"] = nir.Scale(scale=np.full(shape, scale, np.float32))
        edges.append((prev, f"{prefix}.scale"))
        prev, scale = f"{prefix}.scale", None
    for module in ops:
        key, node, shape = _export_op(nir, prefix, module, shape, scale)
        if isinstance(module, WEIGHTED):
            scale = None  # folded into the first weighted operator only
        base, k = key, 1
        while key in nodes:
            k += 1
            key = f"{base}{k}"
        nodes[key] = node
        edges.append((prev, key))
        prev = key
    return prev


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
        pad = pair(m.padding)
        if m.ceil_mode or (pad != (0, 0) and not m.count_include_pad):
            raise NIRError(f"layer {layer}: average pooling with ceil_mode or uncounted padding")
        node = nir.AvgPool2d(
            kernel_size=np.array(pair(m.kernel_size)),
            stride=np.array(pair(m.stride or m.kernel_size)),
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
    if isinstance(m, ScaleShift) and m.shift is None:
        return f"{layer}.scale", nir.Scale(scale=_np(m.scale.expand(shape))), out
    if isinstance(m, ScaleShift):  # x·scale + shift: a diagonal 1×1 convolution with a bias
        return _shift_node(nir, layer, m, shape, out)
    if isinstance(m, ChannelPad):
        raise NIRError(
            f"layer {layer}: a concatenation along channels that no Conv2d or Linear follows "
            "has no NIR node"
        )
    raise NIRError(f"layer {layer}: {type(m).__name__} has no NIR export")


def _shift_node(nir, layer: str, m: ScaleShift, shape: tuple, out: tuple):
    """A constant scale and shift (an input normalisation inside the model, a BatchNorm no
    convolution precedes), one value per channel, as the node that computes it exactly: a 1×1
    ``Conv2d`` (an ``Affine`` on vectors) with ``diag(scale)`` and the shift as its bias."""
    channels = shape[0]
    per_channel = [
        torch.as_tensor(v, dtype=torch.float32).expand(shape).reshape(channels, -1)
        for v in (m.scale, m.shift)
    ]
    if any(not torch.all(v == v[:, :1]) for v in per_channel):
        raise NIRError(f"layer {layer}: a shift that varies within a channel has no NIR node")
    scale, shift = (v[:, 0] for v in per_channel)
    weight = torch.diag(scale)
    if len(shape) == 1:
        return f"{layer}.shift", nir.Affine(weight=_np(weight), bias=_np(shift)), out
    node = nir.Conv2d(
        input_shape=shape[1:],
        weight=_np(weight[:, :, None, None]),
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=_np(shift),
    )
    return f"{layer}.shift", node, out


def write_nir(
    path: str | Path,
    snn: ConvertedSNN,
    *,
    fold: bool = True,
    metadata: dict[str, Any] | None = None,
    target: str = "neurosnn",
) -> Path:
    """Write ``snn`` as a NIR graph to ``path`` (written whole or not at all).

    Args:
        path: the file to write (``.nir``).
        snn: the converted SNN; one with calibrated initial potentials is refused (NIR has no
            field for them).
        fold: fold channel-wise thresholds into the weights (every IF node's threshold 1),
            which NIR's executors need.
        metadata: JSON-serialisable facts kept in the file (read back by ``read_nir``).
        target: the simulator that will run the file (``neurosnn.io.nirtargets.TARGETS``):
            ``"neurosnn"`` (also nirtorch with neurosnn's map) or the form one of norse,
            rockpool, sinabs, snntorch, spikingjelly runs; those forms fold the thresholds;
            norse, rockpool and sinabs start from 0 (a warning names the layers whose φ is
            lost).

    Returns:
        ``path``."""
    from neurosnn.io.nirtargets import RECURRENT_RESET, check_target, for_target
    from neurosnn.io.output import atomic

    require_snn(snn, "write_nir(path, snn)")
    nir = _nir()
    check_target(target)
    if target not in ("neurosnn", "nirtorch"):
        if not fold:
            log.warning("%s maps no nir.Scale: the thresholds are folded into the weights", target)
        fold = True
        lost = [n for n, p in zip(snn.if_names, snn.phi, strict=True) if p]
        if lost and target not in RECURRENT_RESET:
            log.warning(
                "%s starts every neuron at 0: the initial potential φ·θ of %s is not in the file",
                target,
                ", ".join(lost),
            )
    graph = for_target(to_nir(snn, fold=fold, metadata=metadata), target)
    _check_node_values(graph)  # a NaN weight (a diverged fine-tuning) is not exported
    path = Path(path)
    with atomic(path) as tmp:
        nir.write(tmp, graph)
        if target == "sinabs":
            _without_v_reset(tmp)
    return path


def _without_v_reset(path: Path) -> None:
    """The IF nodes as nir <= 1.0.4 writes them (no ``v_reset``: 0), for sinabs, which pins it."""
    import h5py

    with h5py.File(path, "r+") as f:
        for node in f["node/nodes"].values():
            if node["type"][()] == b"IF" and "v_reset" in node:
                del node["v_reset"]


def read_nir(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[ConvertedSNN, dict[str, Any]]:
    """The SNN in the NIR file ``path`` and the neurosnn metadata it holds (``{}`` for a file
    another tool wrote; ``"source"``: the exporter's caller's metadata).

    Args:
        path: a NIR file (HDF5).
        device: where to put the SNN.

    Returns:
        ``(snn, metadata)``.

    Raises:
        UserError: the graph holds a node neurosnn cannot run (named)."""
    from neurosnn.io.h5safe import check_self_contained

    nir = _nir()
    path = Path(path)
    try:
        check_self_contained(path)
    except UserError as err:
        raise NIRError(str(err)) from err
    try:
        graph = nir.read(path)
    except Exception as err:  # h5py and nir raise many types on a foreign or broken file
        raise NIRError(f"{path} is not a readable NIR file: {_one_line(err)}") from err
    try:
        _check_node_values(graph)
        return from_nir(graph, device)
    except UserError as err:
        raise NIRError(f"{path}: {err}") from err
    except Exception as err:  # a crafted graph: any failure to build it is the file's
        raise NIRError(f"{path} holds a NIR graph neurosnn cannot build: {_one_line(err)}") from err


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def _check_node_values(graph) -> None:
    """Every array of every node real and finite (``neurosnn.io.values.check_values``)."""
    for key, node in graph.nodes.items():
        for name, value in vars(node).items():
            if isinstance(value, np.ndarray):
                check_values(value, f"node {key} {name}")


def from_nir(graph, device: torch.device | str = "cpu") -> tuple[ConvertedSNN, dict[str, Any]]:
    """A converted SNN from a NIR graph (see the module docstring for what it accepts)."""
    nir = _nir()
    info = graph_metadata(graph)
    nodes = graph.nodes
    _refuse_other_semantics(nir, nodes, info)
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in graph.edges:
        if a not in nodes or b not in nodes:
            raise NIRError(f"the edge {a} -> {b} names a node the graph does not have")
        preds[b].append(a)
    inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise NIRError(f"the graph must have one Input node, found {inputs}")
    neurons = [k for k, n in nodes.items() if isinstance(n, nir.IF | nir.I)]
    outputs = [k for k in neurons if isinstance(nodes[k], nir.I)]
    if len(outputs) != 1:
        raise NIRError(f"the graph must have one output integrator (nir.I), found {outputs}")
    for key, node in nodes.items():
        if isinstance(node, nir.Output) and preds[key] != outputs:
            raise NIRError(f"node {key}: the Output must be fed by the output integrator alone")
        if key not in neurons and not isinstance(node, nir.Input) and len(preds[key]) != 1:
            raise NIRError(
                f"node {key} has {len(preds[key])} inputs; in a graph neurosnn runs only "
                "neuron nodes (IF, I) sum their inputs (the graph branches or merges there)"
            )
    rename = {inputs[0]: INPUT, **{k: INPUT + "_" if k == INPUT else k for k in neurons}}
    paths = {
        t: [_path_to(nir, nodes, preds, p, neurons + inputs) for p in preds[t]] for t in neurons
    }
    order = _file_order(
        neurons, {t: {src for src, _ in paths[t] if src in neurons} for t in neurons}
    )
    order.remove(outputs[0])
    order.append(outputs[0])
    shapes = {inputs[0]: tuple(int(d) for d in nodes[inputs[0]].input_type["input"])}
    thresholds, graph_nodes, graph_edges = [], [], []
    for key in order:
        node = nodes[key]
        shape = tuple(int(d) for d in node.r.shape)
        _check_ones(node.r, key, "r")
        if isinstance(node, nir.IF):
            thresholds.append(_uniform(node.v_threshold, key, "v_threshold"))
            if np.any(np.asarray(node.v_reset) != 0):
                raise NIRError(f"node {key}: v_reset must be 0")
        for source, chain in paths[key]:
            ops = _import_edge(nir, nodes, source, chain, shapes, key, shape)
            graph_edges.append(Edge(rename[source], rename[key], ops))
        shapes[key] = shape
        activation = nn.ReLU() if isinstance(node, nir.IF) else None
        graph_nodes.append(Node(rename[key], shape, activation))
    try:
        snn_graph = SNNGraph(shapes[inputs[0]], graph_nodes, graph_edges)
    except UserError as err:
        raise NIRError(str(err)) from err
    snn = ConvertedSNN(build_network(snn_graph), snn_graph.names, snn_graph.input_shape, {})
    snn.set_thresholds(thresholds)
    phi = dict(zip(info.get("layer_names") or [], info.get("phi") or [], strict=False))
    snn.set_phi([phi[n] for n in snn.if_names] if all(n in phi for n in snn.if_names) else 0.0)
    return snn.to(device), info


NEURONS = ("LIF", "CubaLIF", "LI", "CubaLI", "Threshold", "Delay", "IF", "I")


def _refuse_other_semantics(nir, nodes, info: dict) -> None:
    """A graph neurosnn would run with other semantics than its author meant is refused,
    naming the node: neurosnn simulates IF neurons with the subtractive reset and ``>=`` its
    own files declare; NIR's IF (another tool's file) resets to ``v_reset`` and fires on
    ``>``, and LIF, CubaLIF, LI and Threshold nodes leak or fire in ways it does not model."""
    target = (info.get("target") or {}).get("name")
    if target:
        raise NIRError(
            f"the file was written for {target} (--nir-target {target}); neurosnn reads the "
            "files it writes for itself (--nir-target neurosnn, the default)"
        )
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind in NEURONS and kind not in ("IF", "I"):
            raise NIRError(
                f"node {key}: a nir.{kind} neuron (leak, synaptic current or threshold unit) is "
                "not one neurosnn simulates: it runs the IF neurons of converted SNNs"
            )
    declared = info.get("semantics", {}).get("reset", "")
    first_if = next((k for k, n in nodes.items() if isinstance(n, nir.IF)), None)
    if first_if is not None and not declared.startswith("subtract"):
        raise NIRError(
            f"node {first_if}: a nir.IF from another tool resets to v_reset and fires on v > "
            "v_threshold, which neurosnn does not simulate (it subtracts θ and fires on >=, as "
            "its own files declare); nirtorch runs the graph as written: "
            "neurosnn.io.nirconsumer.build(path, reset='zero', inclusive=False)"
        )


def _file_order(neurons: list[str], sources: dict[str, set[str]]) -> list[str]:
    """A topological order of the neurons that keeps the file's order where it can."""
    position = {k: i for i, k in enumerate(neurons)}
    sorter = graphlib.TopologicalSorter(sources)
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        raise NIRError(f"the graph has a loop through {err.args[1]}") from err
    order: list[str] = []
    ready: set[str] = set()
    while sorter.is_active():
        ready.update(sorter.get_ready())
        key = min(ready, key=position.__getitem__)
        ready.remove(key)
        order.append(key)
        sorter.done(key)
    return order


def _path_to(nir, nodes, preds, key: str, ends: list[str]) -> tuple[str, list[str]]:
    """``(source, operator nodes in order)`` of the path that ends in ``key``, back to the
    neuron or input node it starts from."""
    chain = []
    while key not in ends:
        if isinstance(nodes[key], nir.Output) or key in chain:
            raise NIRError(f"node {key}: a path into a neuron node passes an Output or a loop")
        chain.insert(0, key)
        key = preds[key][0]
    if isinstance(nodes[key], nir.I):
        raise NIRError(f"node {key}: the output integrator feeds another node")
    return key, chain


def _import_edge(nir, nodes, source, chain, shapes, target, target_shape) -> nn.Sequential:
    """The operators of one connection: the path's nodes as modules, opened with
    ``UnitSpikes`` when the source is an IF layer whose spikes no Scale of its threshold
    turns back into neurosnn's threshold-valued spikes."""
    ops: list[nn.Module] = []
    shape = shapes[source]
    rest = list(chain)
    if isinstance(nodes[source], nir.IF):
        theta = _uniform(nodes[source].v_threshold, source, "v_threshold")
        if rest and isinstance(nodes[rest[0]], nir.Scale):
            if _uniform(nodes[rest[0]].scale, rest[0], "scale") != theta:
                raise NIRError(
                    f"node {rest[0]}: a Scale after an IF layer must equal its threshold"
                )
            rest = rest[1:]  # the spikes stay threshold-valued, neurosnn's own
        else:
            ops.append(UnitSpikes())
    for key in rest:
        module = import_op(nir, key, nodes[key])
        ops.append(module)
        with torch.no_grad():
            shape = tuple(module(torch.zeros(1, *shape)).shape[1:])
    if shape != target_shape:
        raise NIRError(
            f"node {target}: neuron shape {target_shape}, its input from {source} is {shape}"
        )
    return nn.Sequential(*ops).eval().requires_grad_(False)


def graph_metadata(graph) -> dict[str, Any]:
    """What neurosnn wrote into a NIR graph's metadata (``{}`` for another tool's graph)."""
    raw = (graph.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NIRError(f"the graph's {METADATA_KEY!r} metadata is not JSON: {err}") from err


def _uniform(values, key: str, what: str) -> float:
    arr = np.asarray(values, dtype=np.float32)
    if arr.size == 0 or np.any(arr != arr.flat[0]):
        raise NIRError(f"node {key}: {what} must be one value for the whole layer")
    return float(arr.flat[0])


def _check_ones(values, key: str, what: str) -> None:
    if np.any(np.asarray(values) != 1):
        raise NIRError(f"node {key}: {what} must be 1")
