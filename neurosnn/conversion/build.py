"""The BindsNET network of an SNN graph: an ``Input`` layer, a layer of subtractive-reset IF
neurons per hidden node, an integrator for the output and a connection per edge, added in the
graph's order so that each layer sums its currents in it (BindsNET's ``Network`` sums a layer's
connections in the order they were added)."""

from __future__ import annotations

import copy

from bindsnet.network.nodes import Input
from torch import nn

from neurosnn.snn.graph import INPUT, SNNGraph
from neurosnn.snn.network import SNNNetwork
from neurosnn.snn.neurons import AccumulatorNodes, SubtractiveIFNodes
from neurosnn.snn.synapses import OpsConnection, SpikeMaxPool2d


def snn_ops(ops: nn.Sequential) -> nn.Sequential:
    """Copies of an edge's operators for a connection (max pooling as spike max pooling)."""
    mods = [
        SpikeMaxPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode)
        if isinstance(m, nn.MaxPool2d)
        else copy.deepcopy(m)
        for m in ops
    ]
    return nn.Sequential(*mods).eval().requires_grad_(False)


def build_network(graph: SNNGraph) -> SNNNetwork:
    """The BindsNET network of ``graph``: an Input layer, an IF layer per hidden node, an
    integrator for the output, a connection per edge (added in the graph's order, so each
    layer sums its currents in it)."""
    net = SNNNetwork(dt=1.0, batch_size=1, learning=False)
    net.add_layer(Input(shape=list(graph.input_shape)), name=INPUT)
    for node in graph.nodes:
        if node.activation is None:
            net.add_layer(AccumulatorNodes(node.shape), name=node.name)
        else:
            net.add_layer(SubtractiveIFNodes(node.shape), name=node.name)
    for edge in graph.edges:
        source, target = net.layers[edge.source], net.layers[edge.target]
        net.add_connection(
            OpsConnection(source, target, snn_ops(edge.ops)), edge.source, edge.target
        )
    return net
