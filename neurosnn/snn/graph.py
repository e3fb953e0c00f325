"""The SNN as a graph value: nodes (the input, IF layers, the output integrator) and edges
(a chain of linear operators from one node to another). A node sums the currents of all its
incoming edges, so a residual sum is a node with two edges and a chain has one edge per node;
two edges may join the same pair of nodes (``relu(fc1(x) + fc2(x))``).

    graph = SNNGraph((1, 28, 28), nodes, edges)
    for name, pre, act in graph.ann_forward(x): ...   # the ANN it stands for, node by node

Nodes are kept in topological order (checked with ``graphlib``), the output last; the edges
into a node are kept in the order they are summed (BindsNET sums a layer's connections in the
order they were added, and every engine sums them in that order).

Edges hold the ANN's operators (``nn.MaxPool2d``, not its spiking form): the graph is what the
converter builds and checks against the ANN, what calibration runs, and what the saved SNN file
and the BindsNET network are made from (``neurosnn.snn.network.build_network``).
"""

from __future__ import annotations

import dataclasses
import graphlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from neurosnn.errors import UserError

INPUT = "input"


@dataclass
class Node:
    """One layer of the SNN.

    Attributes:
        name: the ANN's module path it stands for (``layer1.0.conv2``), unique.
        shape: shape of one sample's neurons.
        activation: the ANN activation the IF layer replaces (``nn.ReLU`` or QCFS); None for
            the output integrator.
    """

    name: str
    shape: tuple[int, ...]
    activation: nn.Module | None


@dataclass
class Edge:
    """A connection: ``ops`` applied to the source's output (the image, or threshold-valued
    spikes) is a current into ``target``."""

    source: str
    target: str
    ops: nn.Sequential


@dataclass
class SNNGraph:
    """Nodes in topological order (the output last) and the edges between them.

    Attributes:
        input_shape: shape of one input sample, ``(C, H, W)``.
        nodes: IF layers, then the output integrator, in topological order.
        edges: the connections, grouped by target in node order, each target's in summation
            order.
    """

    input_shape: tuple[int, ...]
    nodes: list[Node]
    edges: list[Edge] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        names = [n.name for n in self.nodes]
        if not names:
            raise UserError("an SNN graph needs at least an output node")
        if len(set(names)) != len(names) or INPUT in names:
            raise UserError(f"node names must be unique and not {INPUT!r}: {names}")
        kinds = [n.activation is None for n in self.nodes]
        if not kinds[-1] or any(kinds[:-1]):
            raise UserError("the last node, and only it, must be the output integrator")
        known = {INPUT, *names}
        for e in self.edges:
            if e.source not in known or e.target not in names:
                raise UserError(f"edge {e.source} -> {e.target} joins unknown nodes")
            if e.source == self.output:
                raise UserError(f"edge {e.source} -> {e.target} leaves the output node")
        for name in names:
            if not self.sources(name):
                raise UserError(f"node {name} has no incoming edge")
        order = {n: i for i, n in enumerate([INPUT, *names])}
        for e in self.edges:
            if order[e.source] >= order[e.target]:
                raise UserError(f"edge {e.source} -> {e.target} goes against the node order")
        # graphlib confirms the order is topological (and finds any cycle)
        graphlib.TopologicalSorter({n: set(self.sources(n)) for n in names}).prepare()

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    @property
    def output(self) -> str:
        return self.nodes[-1].name

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def incoming(self, name: str) -> list[Edge]:
        """The edges into ``name``, in summation order."""
        return [e for e in self.edges if e.target == name]

    def sources(self, name: str) -> list[str]:
        return [e.source for e in self.edges if e.target == name]

    @property
    def is_chain(self) -> bool:
        """Whether every node has one incoming edge, from the node before it."""
        previous = [INPUT, *self.names[:-1]]
        return all(self.sources(n) == [p] for n, p in zip(self.names, previous, strict=True))

    def ann_forward(
        self, x: torch.Tensor, activations: dict[str, nn.Module] | None = None
    ) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """The ANN the graph stands for, node by node in topological order: ``(name,
        pre-activation, activation)`` (for the output both are its value). Values are dropped
        as soon as no later node reads them. ``activations`` replaces the named nodes'."""
        nodes = [
            dataclasses.replace(n, activation=activations[n.name])
            if activations and n.name in activations
            else n
            for n in self.nodes
        ]
        yield from ann_forward(self.input_shape, nodes, _by_target(self.edges), x)


def _by_target(edges: list[Edge]) -> dict[str, list[tuple[str, nn.Module]]]:
    out: dict[str, list[tuple[str, nn.Module]]] = {}
    for e in edges:
        out.setdefault(e.target, []).append((e.source, e.ops))
    return out


def ann_forward(
    input_shape: tuple[int, ...],
    nodes: list[Node],
    incoming: dict[str, list[tuple[str, nn.Module]]],
    x: torch.Tensor,
) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(name, pre-activation, activation)`` of each node of a graph given as its nodes and,
    per target, ``(source, ops)`` in summation order (``SNNGraph.ann_forward``)."""
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise UserError(f"input has sample shape {tuple(x.shape[1:])}, expected {input_shape}")
    last_use = {}
    for i, node in enumerate(nodes):
        for source, _ in incoming[node.name]:
            last_use[source] = i
    values = {INPUT: x}
    for i, node in enumerate(nodes):
        pre = None
        for source, ops in incoming[node.name]:
            current = ops(values[source])
            pre = current if pre is None else pre + current
        for source, _ in incoming[node.name]:
            if last_use[source] == i:
                values.pop(source, None)
        act = pre if node.activation is None else node.activation(pre)
        values[node.name] = act
        yield node.name, pre, act


def path_lengths(names: list[str], sources: dict[str, list[str]], pick=min) -> dict[str, int]:
    """Connections on the shortest (``pick=min``) or longest (``max``) path from the input to
    each node (nodes in topological order)."""
    dist = {INPUT: 0}
    for name in names:
        dist[name] = 1 + pick(dist[s] for s in sources[name])
    del dist[INPUT]
    return dist
