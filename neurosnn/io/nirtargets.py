"""A neurosnn NIR graph rewritten for the simulator that will run it (``--nir-target``).

Every NIR consumer maps a different subset of NIR and gives its nodes its own meaning; no
single file runs faithfully in all of them. Each target gets the form its importer runs as
neurosnn does, or as close as it can (the measured agreement is in the docs):

* ``neurosnn`` / ``nirtorch``: the graph as ``neurosnn.io.nirio.to_nir`` writes it (``IF`` with
  neurosnn's semantics in the metadata, an output integrator ``I``); nirtorch has no neuron
  models, so it runs the file with ``neurosnn.io.nirconsumer``'s map.
* every other target, in the nodes all of their importers map: average pooling as a ``Conv2d``
  whose kernel is ``1/k²`` on the channel diagonal (Norse and sinabs map no ``AvgPool2d``),
  threshold ``Scale`` nodes as ``1×1`` diagonal convolutions (none maps ``Scale``), the
  classifier as convolutions without ``Flatten`` (snnTorch and Norse pass NIR's batch-free
  dimensions to ``torch.nn.Flatten``) and no output integrator (none maps ``I``): the graph's
  output is the last layer's current each step, whose running sum is the integrator's
  potential. Norse and sinabs run graphs with nirtorch's deprecated executor, which orders
  the nodes depth-first: a residual merge would take one branch a step late, so for them only
  chains are exported (a merge is refused, named).
* the neuron, per target: ``norse``: ``CubaLIF`` with a synapse of one step (``τ_syn = dt``),
  no leak in float32 (``τ_mem = K·dt``, ``r = K``, ``K = 2**40``) and the subtractive reset
  Norse applies when asked (``from_nir(graph, reset_method=reset_subtract)``): exact.
  ``sinabs``: ``IF`` (sinabs' ``IAFSqueeze`` subtracts, but clips the potential at ``−θ`` and
  fires several spikes in a step), written without ``v_reset`` for the ``nir <= 1.0.4`` sinabs
  pins. ``snntorch`` and ``spikingjelly`` reset to zero whatever the file says (snnTorch's
  ``IF`` also leaks, β = 0.9): ``LIF`` without leak for snnTorch, ``IF`` with ``r = 1/dt`` for
  SpikingJelly, which run NIR's own IF (reset to ``v_reset``, fire on ``>``), not neurosnn's.

The initial potential ``φ·θ`` has no field in NIR: every consumer starts from 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from neurosnn.errors import UserError

LOSSLESS = 2.0**40  # τ_mem / dt: a leak of v/2**40 per step, below float32's resolution


@dataclass(frozen=True)
class Target:
    """A NIR consumer: how it loads a file and what of neurosnn's semantics it keeps."""

    name: str
    call: str  # the documented call that loads a file
    keeps: str  # what it runs
    loses: str  # what differs from neurosnn's delay="none" run ("" where nothing does)


TARGETS = {
    t.name: t
    for t in (
        Target(
            "neurosnn",
            "neurosnn.read_nir(path)",
            "IF with subtractive reset, fire on >=, φ, output integrator",
            "",
        ),
        Target(
            "nirtorch",
            "nirtorch.nir_to_torch(nir.read(path), node_map) with "
            "neurosnn.io.nirconsumer.build(path)",
            "the same (neurosnn's neuron map; nirtorch has none)",
            "",
        ),
        Target(
            "norse",
            "norse.torch.from_nir(nir.read(path), reset_method=reset_subtract)",
            "CubaLIF without leak, one-step synapse, subtractive reset",
            "fires on > (neurosnn: >=); φ",
        ),
        Target(
            "sinabs",
            "sinabs.from_nir(nir.read(path), batch_size=B)",
            "IAFSqueeze: subtractive reset",
            "clips the potential at −θ and fires several spikes per step; φ",
        ),
        Target(
            "snntorch",
            "snntorch.import_nir.import_from_nir(nir.read(path))",
            "Leaky with β = 1",
            "resets to zero (its IF leaks with β = 0.9); fires on >; φ",
        ),
        Target(
            "spikingjelly",
            "spikingjelly.activation_based.nir_exchange.import_from_nir(path)",
            "IFNode",
            "resets to zero (hard reset); fires on >; φ",
        ),
    )
}
DT = {"norse": 1e-3, "snntorch": 1e-4, "spikingjelly": 1e-4}
# importers that run the graph with nirtorch's deprecated ``load``, whose executor orders the
# nodes depth-first from the input: where two branches merge, one of them arrives a step late
DEPTH_FIRST = ("norse", "sinabs")


def check_target(name: str) -> Target:
    """The target called ``name``, or a one-line error listing them."""
    if name not in TARGETS:
        raise UserError(f"--nir-target: expected one of {', '.join(TARGETS)}, found {name!r}")
    return TARGETS[name]


def for_target(graph, target: str):
    """``graph`` (as ``to_nir(fold=True)`` writes it) in the form ``target`` runs."""
    import nir

    check_target(target)
    if target in ("neurosnn", "nirtorch"):
        return graph
    nodes, edges = dict(graph.nodes), list(graph.edges)
    if target in DEPTH_FIRST:
        _refuse_merges(target, nodes, edges)
    shapes = _shapes(nir, nodes, edges)
    _drop_integrator(nir, nodes, edges)
    for key in list(nodes):
        if isinstance(nodes[key], nir.AvgPool2d | nir.Scale):
            nodes[key] = _linear_op(nir, key, nodes[key], shapes[key])
    _remove_flatten(nir, nodes, edges, shapes)
    for key, node in nodes.items():
        if isinstance(node, nir.IF):
            nodes[key] = _neuron(nir, target, node)
        elif isinstance(node, nir.Affine):
            nodes[key] = _as_conv(nir, node.weight[:, :, None, None], node.bias, (1, 1))
        elif isinstance(node, nir.Output):
            out = [int(d) for d in node.output_type["output"]]
            nodes[key] = nir.Output(output_type={"output": np.array(_as_map(out))})
    info = json.loads(graph.metadata.get("neurosnn", "{}"))
    info["target"] = {"name": target, "call": TARGETS[target].call, "loses": TARGETS[target].loses}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"neurosnn": json.dumps(info)})


def _shapes(nir, nodes, edges) -> dict[str, tuple[int, ...]]:
    """Each node's input shape (without the batch), from the Input node along the edges."""
    import torch

    preds = {k: [a for a, b in edges if b == k] for k in nodes}
    shapes: dict[str, tuple[int, ...]] = {}
    out: dict[str, tuple[int, ...]] = {}
    todo = list(nodes)
    while todo:
        key = todo.pop(0)
        node = nodes[key]
        if isinstance(node, nir.Input):
            shapes[key] = out[key] = tuple(int(d) for d in node.input_type["input"])
            continue
        if any(p not in out for p in preds[key]):
            todo.append(key)
            continue
        shapes[key] = out[preds[key][0]]
        x = torch.zeros(1, *shapes[key])
        if isinstance(node, nir.Conv2d | nir.AvgPool2d | nir.Flatten | nir.Affine):
            out[key] = tuple(_torch_op(node)(x).shape[1:])
        else:
            out[key] = shapes[key]
    return shapes


def _torch_op(node):
    """The torch module of a NIR operator node (to follow the shapes through the graph)."""
    import nir
    import torch

    if isinstance(node, nir.Conv2d):
        m = torch.nn.Conv2d(
            node.weight.shape[1] * int(node.groups),
            node.weight.shape[0],
            tuple(node.weight.shape[2:]),
            stride=tuple(int(s) for s in np.broadcast_to(node.stride, 2)),
            padding=tuple(int(s) for s in np.broadcast_to(node.padding, 2)),
            dilation=tuple(int(s) for s in np.broadcast_to(node.dilation, 2)),
            groups=int(node.groups),
        )
        m.weight.data = torch.as_tensor(np.asarray(node.weight, np.float32))
        m.bias.data = torch.as_tensor(np.asarray(node.bias, np.float32))
        return m
    if isinstance(node, nir.AvgPool2d):
        return torch.nn.AvgPool2d(
            tuple(int(k) for k in node.kernel_size),
            tuple(int(s) for s in node.stride),
            tuple(int(p) for p in node.padding),
        )
    if isinstance(node, nir.Flatten):
        return torch.nn.Flatten()
    m = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0])
    m.weight.data = torch.as_tensor(np.asarray(node.weight, np.float32))
    m.bias.data = torch.as_tensor(np.asarray(node.bias, np.float32))
    return m


def _refuse_merges(target: str, nodes, edges) -> None:
    merges = [k for k in nodes if sum(b == k for _, b in edges) > 1]
    if merges:
        raise UserError(
            f"--nir-target {target}: {target} runs NIR graphs with nirtorch's deprecated "
            "executor, which orders the nodes depth-first, so where branches merge (here at "
            f"{merges[0]}) one arrives a step late; it runs chains only (snntorch, "
            "spikingjelly and nirtorch run residual graphs)"
        )


def _drop_integrator(nir, nodes, edges) -> None:
    """The output integrator ``I`` removed: the Output takes its input current each step."""
    for key, node in list(nodes.items()):
        if isinstance(node, nir.I):
            preds = [a for a, b in edges if b == key]
            if len(preds) != 1:
                raise UserError(
                    f"node {key}: an output layer fed by {len(preds)} connections has no form "
                    "without an integrator (the consumers map no nir.I)"
                )
            edges[:] = [(preds[0] if a == key else a, b) for a, b in edges if b != key]
            del nodes[key]


def _linear_op(nir, key: str, node, shape: tuple[int, ...]):
    """A pooling or ``Scale`` node as a ``Conv2d`` (an ``Affine`` on vectors)."""
    if isinstance(node, nir.Scale):
        s = np.asarray(node.scale, np.float32).reshape(shape[0], -1)
        if not np.all(s == s[:, :1]):
            raise UserError(
                f"node {key}: a Scale that varies within a channel has no convolution form"
            )
        w = np.diag(s[:, 0])[:, :, None, None]
        if len(shape) == 1:
            return nir.Affine(weight=w[:, :, 0, 0], bias=np.zeros(shape[0], np.float32))
        return _as_conv(nir, w, np.zeros(shape[0], np.float32), shape[1:])
    k = [int(v) for v in node.kernel_size]
    w = np.zeros((shape[0], shape[0], *k), np.float32)
    w[np.arange(shape[0]), np.arange(shape[0])] = 1.0 / (k[0] * k[1])
    return _as_conv(nir, w, np.zeros(shape[0], np.float32), shape[1:], node.stride, node.padding)


def _as_conv(nir, weight, bias, input_shape, stride=1, padding=0):
    return nir.Conv2d(
        input_shape=tuple(int(d) for d in input_shape),
        weight=np.asarray(weight, np.float32),
        stride=tuple(int(s) for s in np.broadcast_to(stride, 2)),
        padding=tuple(int(p) for p in np.broadcast_to(padding, 2)),
        dilation=(1, 1),
        groups=1,
        bias=np.asarray(bias, np.float32),
    )


def _remove_flatten(nir, nodes, edges, shapes) -> None:
    """Each ``Flatten`` removed: the ``Affine`` after it becomes a convolution over the whole
    map."""
    for key, node in list(nodes.items()):
        if not isinstance(node, nir.Flatten):
            continue
        (source,) = [a for a, b in edges if b == key]
        targets = [b for a, b in edges if a == key]
        edges[:] = [e for e in edges if key not in e] + [(source, t) for t in targets]
        del nodes[key]
        shape = shapes[key]
        for t in targets:
            nxt = nodes[t]
            if not isinstance(nxt, nir.Affine):
                raise UserError(f"node {key}: a Flatten that no Affine follows has no NIR form")
            w = np.asarray(nxt.weight, np.float32).reshape(nxt.weight.shape[0], *shape)
            nodes[t] = _as_conv(nir, w, nxt.bias, shape[1:])


def _as_map(shape: list[int]) -> list[int]:
    return shape if len(shape) == 3 else [int(np.prod(shape)), 1, 1]


def _neuron(nir, target: str, node):
    theta = np.asarray(node.v_threshold, np.float32)
    theta = theta.reshape(_as_map(list(theta.shape)))
    zero, one = np.zeros_like(theta), np.ones_like(theta)
    dt = DT.get(target, 1.0)
    if target == "sinabs":
        return nir.IF(r=one, v_threshold=theta, v_reset=zero)
    if target == "spikingjelly":
        return nir.IF(r=one / dt, v_threshold=theta, v_reset=zero)
    if target == "snntorch":
        return nir.LIF(
            tau=one * LOSSLESS * dt, r=one * LOSSLESS, v_leak=zero, v_threshold=theta, v_reset=zero
        )
    # norse: a synapse of one step, a membrane without leak
    return nir.CubaLIF(
        tau_syn=one * dt,
        tau_mem=one * LOSSLESS * dt,
        r=one * LOSSLESS,
        v_leak=zero,
        v_threshold=theta,
        v_reset=zero,
        w_in=one,
    )
