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
  potential. Norse, sinabs and Rockpool run graphs with nirtorch's deprecated executor, which
  orders the nodes depth-first: a residual merge would take one branch a step late, so their
  form adds zero-weight edges that make the walk run every branch first (``_order_merges``;
  Rockpool's dense form refuses merges).
* the neuron, per target: ``norse``: ``CubaLIF`` with a synapse of one step (``τ_syn = dt``),
  no leak in float32 (``τ_mem = K·dt``, ``r = K``, ``K = 2**40``) and the subtractive reset
  Norse applies when asked (``from_nir(graph, reset_method=reset_subtract)``): exact.
  ``sinabs``: ``IF`` (sinabs' ``IAFSqueeze`` subtracts, but clips the potential at ``−θ`` and
  fires several spikes in a step), written without ``v_reset`` for the ``nir <= 1.0.4`` sinabs
  pins. ``snntorch`` and ``spikingjelly`` reset to zero whatever the file says (and snnTorch's
  ``IF`` leaks, β = 0.9): ``CubaLIF`` whose synapse never decays and whose membrane is the
  synapse's current each step, with a ``1×1`` convolution of weight ``−θ`` from each neuron's
  spikes back to its input; nirtorch 2, which both import with, feeds such a cycle the
  previous step's spikes, so the synapse holds neurosnn's potential and the zero reset of the
  membrane changes nothing: exact.

The initial potential ``φ·θ`` has no field in NIR: Norse and sinabs start from 0; for snnTorch
and SpikingJelly it is an input in the first step, from a start neuron (``_initial_potential``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from neurosnn.errors import UserError

LOSSLESS = 2.0**40  # τ_mem / dt: a leak of v/2**40 per step, below float32's resolution
NEVER = 2.0**60  # τ_syn / dt of a synapse that never decays: 1 − 2**-60 is 1 in float64


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
            "rockpool",
            "rockpool.nn.modules.from_nir(nir.read(path))",
            "LIFTorch (CubaLIF) whose recurrent −θ weights are the subtractive reset; "
            "every layer dense",
            "fires several spikes in a step where v passes 2θ; φ; small chains only",
        ),
        Target(
            "snntorch",
            "snntorch.import_nir.import_from_nir(nir.read(path))",
            "Synaptic (CubaLIF) whose recurrent −θ edge is the subtractive reset; φ",
            "fires on > (neurosnn: >=)",
        ),
        Target(
            "spikingjelly",
            "spikingjelly.activation_based.nir_exchange.import_from_nir(path)",
            "CUBALIFNode whose recurrent −θ edge is the subtractive reset; φ",
            "",
        ),
    )
}
DT = {"norse": 1e-3, "snntorch": 1e-4, "spikingjelly": 1e-4}
# importers that run the graph with nirtorch's deprecated ``load``, whose executor orders the
# nodes depth-first from the input: where two branches merge, one of them would arrive a step
# late without ``_order_merges``
DEPTH_FIRST = ("norse", "sinabs", "rockpool")
DENSE_LIMIT = 2**24  # weights of one unrolled layer in rockpool's form (64 MiB of float32)
# importers whose neurons reset to zero: the subtractive reset is a recurrent −θ edge
RECURRENT_RESET = ("snntorch", "spikingjelly")


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
    if target == "rockpool":
        _refuse_merges(target, nodes, edges)
    shapes = _shapes(nir, nodes, edges)
    _drop_integrator(nir, nodes, edges)
    for key in list(nodes):
        if isinstance(nodes[key], nir.AvgPool2d | nir.Scale):
            nodes[key] = _linear_op(nir, key, nodes[key], shapes[key])
    _remove_flatten(nir, nodes, edges, shapes)
    info = json.loads(graph.metadata.get("neurosnn", "{}"))
    phi = dict(zip(info.get("layer_names", []), info.get("phi", []), strict=False))
    for key, node in list(nodes.items()):
        if isinstance(node, nir.IF) and target == "rockpool":
            continue  # _dense makes its neurons
        if isinstance(node, nir.IF):
            nodes[key] = _neuron(nir, target, node)
            if target in RECURRENT_RESET:
                shape = _as_map(list(shapes[key]))
                _recurrent_reset(nir, key, nodes, edges, shape)
                if phi.get(key):
                    _initial_potential(nir, key, phi[key], nodes, edges, shape)
        elif isinstance(node, nir.Affine):
            nodes[key] = _as_conv(nir, node.weight[:, :, None, None], node.bias, (1, 1))
        elif isinstance(node, nir.Output):
            out = [int(d) for d in node.output_type["output"]]
            nodes[key] = nir.Output(output_type={"output": np.array(_as_map(out))})
    if target == "rockpool":
        _dense(nir, nodes, edges)
    elif target in DEPTH_FIRST:
        _order_merges(nir, target, nodes, edges)
    info["target"] = {"name": target, "call": TARGETS[target].call, "loses": TARGETS[target].loses}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"neurosnn": json.dumps(info)})


def _shapes(nir, nodes, edges) -> dict[str, tuple[int, ...]]:
    """Each node's input shape (without the batch), from the Input node along the edges."""
    import torch

    from neurosnn.io.nirops import import_op

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
            out[key] = tuple(import_op(nir, key, node)(x).shape[1:])
        else:
            out[key] = shapes[key]
    return shapes


def _order_merges(nir, target: str, nodes, edges) -> None:
    """The graph rewritten so that nirtorch's deprecated executor, which runs the nodes in
    depth-first pre-order from the input (children in edge order), runs every branch of a merge
    before the merge: the merge's deepest input branch comes first from the fork, and a
    convolution of zero weights from that branch's last node into each other branch's first
    node makes the depth-first walk run the other branches from there, before the merge.
    The zeros add nothing; a graph the walk still misorders is refused, naming the merge."""
    shapes = _shapes(nir, nodes, edges)
    depth = _depths(nir, nodes, edges)
    for merge in [k for k in nodes if sum(b == k for _, b in edges) > 1]:
        inputs = [a for a, b in edges if b == merge]
        main = max(inputs, key=depth.__getitem__)
        for i, other in enumerate(x for x in inputs if x != main):
            head = other
            while (
                len(preds := [a for a, b in edges if b == head]) == 1
                and _fan_out(edges, preds[0]) == 1
            ):
                head = preds[0]
            name = f"{merge}.order{i}"
            nodes[name] = _zeros(nir, shapes[merge], shapes[head])
            edges.insert(edges.index((main, merge)), (main, name))
            edges.append((name, head))
            for edge in [e for e in edges if e[1] == head and e[0] != name]:
                edges.remove(edge)
                edges.append(edge)  # the fork reaches the main branch first
    order = _pre_order(nodes, edges)
    for key in nodes:
        late = [a for a, b in edges if b == key and order[a] > order[key]]
        if late:
            raise UserError(
                f"--nir-target {target}: {target} runs NIR graphs with nirtorch's deprecated "
                "executor, which orders the nodes depth-first, and at "
                f"{key} the input from {late[0]} would arrive a step late; snntorch, "
                "spikingjelly and nirtorch run any graph"
            )


def _fan_out(edges, key: str) -> int:
    return sum(a == key for a, _ in edges)


def _depths(nir, nodes, edges) -> dict[str, int]:
    """Each node's longest path from the input."""
    depth: dict[str, int] = {}
    todo = list(nodes)
    while todo:
        key = todo.pop(0)
        preds = [a for a, b in edges if b == key]
        if any(p not in depth for p in preds):
            todo.append(key)
            continue
        depth[key] = 1 + max((depth[p] for p in preds), default=-1)
    return depth


def _pre_order(nodes, edges) -> dict[str, int]:
    """The position of each node in nirtorch's deprecated executor's execution order."""
    (start,) = [k for k, n in nodes.items() if type(n).__name__ == "Input"]
    order: dict[str, int] = {}
    stack = [start]
    while stack:
        key = stack.pop()
        if key in order:
            continue
        order[key] = len(order)
        stack += reversed([b for a, b in edges if a == key and b not in order])
    return order


def _zeros(nir, source: tuple[int, ...], target: tuple[int, ...]):
    """A convolution of zero weights from maps of shape ``source`` to ``target``."""
    (c_in, *size_in), (c_out, *size_out) = _as_map(list(source)), _as_map(list(target))
    pad = [max(0, -(-(o - i) // 2)) for i, o in zip(size_in, size_out, strict=True)]
    kernel = [i + 2 * p - o + 1 for i, o, p in zip(size_in, size_out, pad, strict=True)]
    weight = np.zeros((c_out, c_in, *kernel), np.float32)
    return _as_conv(nir, weight, np.zeros(c_out, np.float32), size_in, 1, pad)


def _refuse_merges(target: str, nodes, edges) -> None:
    merges = [k for k in nodes if sum(b == k for _, b in edges) > 1]
    if merges:
        raise UserError(
            f"--nir-target {target}: {target} runs NIR graphs with nirtorch's deprecated "
            "executor, which orders the nodes depth-first, so where branches merge (here at "
            f"{merges[0]}) one arrives a step late; it runs chains only (snntorch, "
            "spikingjelly, norse, sinabs and nirtorch run residual graphs)"
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


def _recurrent_reset(nir, key: str, nodes, edges, shape) -> None:
    """neurosnn's subtractive reset as NIR nodes for importers that reset to zero: the neuron
    (a ``CubaLIF`` whose synapse never decays and whose membrane is its synapse's current each
    step) gets a ``1×1`` convolution from its spikes back to its input with weight ``−θ``, so
    ``I[t] = I[t−1] + x[t] − θ·s[t−1]``, ``v[t] = I[t]``, ``s[t] = v[t] > θ``: the potential
    before neurosnn's reset (Rueckauer et al. 2017, Eq. 2), whatever the importer's own reset
    does to ``v``."""
    theta = np.asarray(nodes[key].v_threshold, np.float32).reshape(shape[0], -1)[:, 0]
    name = f"{key}.reset"
    reset = np.diag(-theta)[:, :, None, None]
    nodes[name] = _as_conv(nir, reset, np.zeros(shape[0], np.float32), shape[1:])
    edges += [(key, name), (name, key)]


def _initial_potential(nir, key: str, phi: float, nodes, edges, shape) -> None:
    """neurosnn's initial potential ``φ·θ`` as an input of ``φ·θ`` in the first step only
    (the same potential from then on): a start neuron per map size, driven by a constant
    current of 1 (a convolution of the input with zero weights and bias 1), fires in the first
    step and never again (its recurrent edge subtracts 2**30), and a ``1×1`` convolution of
    weight ``φ·θ`` carries that spike into the layer."""
    (height, width), start = shape[1:], f"start.{shape[1]}x{shape[2]}"
    if start not in nodes:
        (source,) = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
        channels, *size = (int(d) for d in nodes[source].input_type["input"])
        kernel = np.zeros((1, channels, size[0] - height + 1, size[1] - width + 1), np.float32)
        nodes[f"{start}.drive"] = _as_conv(nir, kernel, np.ones(1, np.float32), size)
        nodes[start] = _neuron_like(nodes[key], nir, np.full((1, height, width), 0.5, np.float32))
        never = np.full((1, 1, 1, 1), -(2.0**30), np.float32)
        nodes[f"{start}.reset"] = _as_conv(nir, never, np.zeros(1, np.float32), shape[1:])
        edges += [(source, f"{start}.drive"), (f"{start}.drive", start)]
        edges += [(start, f"{start}.reset"), (f"{start}.reset", start)]
    theta = np.asarray(nodes[key].v_threshold, np.float32).reshape(shape[0], -1)[:, 0]
    lift = (phi * theta)[:, None, None, None]
    nodes[f"{key}.phi"] = _as_conv(nir, lift, np.zeros(shape[0], np.float32), shape[1:])
    edges += [(start, f"{key}.phi"), (f"{key}.phi", key)]


def _neuron_like(node, nir, theta):
    """A neuron node of ``node``'s kind and time constants, of ``theta``'s shape."""
    ones = np.ones(theta.shape)
    fields = ("tau_syn", "tau_mem", "r", "v_leak", "v_reset", "w_in")
    values = {f: ones * np.asarray(getattr(node, f)).flat[0] for f in fields}
    return nir.CubaLIF(v_threshold=theta, **values)


def _dense(nir, nodes, edges) -> None:
    """Rockpool's form: Rockpool maps no convolution, so each is unrolled into an ``Affine``
    on flat vectors; each neuron is the recurrent subgraph Rockpool maps to its ``LIFTorch``
    (``CubaLIF`` → recurrent ``Linear`` → ``CubaLIF``) with weight ``−θ·I``. ``LIFTorch`` adds
    the synaptic current to the membrane after decaying it and derives ``dt`` from
    ``τ_mem / (1 + r)``: with ``r = 1/1000 − 1`` the membrane forgets everything each step
    (``exp(−1000)``) and with ``τ_syn = 2**60·dt`` the synapse nothing, so, as for snnTorch,
    the synapse is neurosnn's potential and the recurrent edge its subtractive reset.
    ``LIFTorch`` fires ``floor(v/θ)`` spikes where ``v >= θ``: several in a step where the
    potential passes 2θ, which neurosnn fires over several steps."""
    shapes = _shapes(nir, nodes, edges)
    for key, node in list(nodes.items()):
        if isinstance(node, nir.Conv2d):
            nodes[key] = _unrolled(nir, key, node, shapes[key])
        elif isinstance(node, nir.IF):
            nodes[key] = _recurrent_lif(nir, key, np.asarray(node.v_threshold).reshape(-1))
        elif isinstance(node, nir.Input):
            nodes[key] = nir.Input(input_type={"input": np.array([np.prod(shapes[key])])})
        elif isinstance(node, nir.Output):
            flat = np.prod(node.output_type["output"])
            nodes[key] = nir.Output(output_type={"output": np.array([flat])})


def _check_dense(what: str, rows: int, cols: int) -> None:
    if rows * cols > DENSE_LIMIT:
        raise UserError(
            f"{what} has {rows}×{cols} weights in rockpool's dense form, above its limit of "
            f"{DENSE_LIMIT:,} per layer: export a smaller network (Xylo chips hold about 1,000 "
            "neurons)"
        )


def _unrolled(nir, key: str, node, shape: tuple[int, ...]):
    """A ``Conv2d`` as the ``Affine`` it computes on flat vectors."""
    import torch

    from neurosnn.io.nirops import import_op

    conv, size = import_op(nir, key, node), int(np.prod(shape))
    with torch.no_grad():
        bias = conv(torch.zeros(1, *shape)).reshape(-1)
        what = f"node {key}: a convolution, unrolled (rockpool maps none),"
        _check_dense(what, bias.numel(), size)
        basis = conv(torch.eye(size).reshape(size, *shape)).reshape(size, -1) - bias
    return nir.Affine(weight=basis.T.contiguous().numpy(), bias=bias.numpy())


def _recurrent_lif(nir, key: str, theta):
    size = len(theta)
    _check_dense(f"layer {key}: the reset, a recurrent weight matrix,", size, size)
    one, zero = np.ones(size), np.zeros(size, np.float32)
    neuron = nir.CubaLIF(
        tau_syn=one * NEVER * 1000.0,
        tau_mem=one,
        r=one * (1.0 / 1000.0 - 1.0),
        v_leak=zero,
        v_threshold=np.asarray(theta, np.float32),
        v_reset=zero,
        w_in=one,
    )
    flat = {"input": np.array([size])}
    nodes = {
        "input": nir.Input(input_type=flat),
        "neuron": neuron,
        "reset": nir.Linear(weight=-np.diag(np.asarray(theta, np.float32))),
        "output": nir.Output(output_type={"output": np.array([size])}),
    }
    edges = [("input", "neuron"), ("neuron", "reset"), ("reset", "neuron"), ("neuron", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _neuron(nir, target: str, node):
    theta = np.asarray(node.v_threshold, np.float32)
    theta = theta.reshape(_as_map(list(theta.shape)))
    zero, one = np.zeros_like(theta), np.ones_like(theta)
    dt = DT.get(target, 1.0)
    if target == "sinabs":
        return nir.IF(r=one, v_threshold=theta, v_reset=zero)
    if target in RECURRENT_RESET:  # no leak: dt/τ_syn is 0 in float64; τ_mem = dt: v = I
        one64 = np.ones(theta.shape)
        return nir.CubaLIF(
            tau_syn=one64 * NEVER * dt,
            tau_mem=one64 * dt,
            r=one64,
            v_leak=zero,
            v_threshold=theta,
            v_reset=zero,
            w_in=one64 * NEVER,
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
