"""ANN → BindsNET SNN conversion in named steps that fail loudly.

Steps: copy (float32, eval) → trace (torch.fx, ``neurosnn.conversion.trace``) → read the graph
(activations become IF nodes, what lies between them edges: ``neurosnn.conversion.linear``) →
fold (BatchNorm and constant scales into the weights: ``neurosnn.conversion.fold``) → check the
graph against the ANN → calibrate (streamed activation histograms:
``neurosnn.conversion.calibrate``) → optionally rescale channels → build the BindsNET network →
set thresholds at a percentile (99.7 by default, Lu & Sengupta Table I, of all the layer's
outputs as in the authors' code, or of the positive ones as in Rueckauer et al.).

Each activation (ReLU or QCFS) of the ANN becomes a layer of subtractive-reset IF neurons; the
model's output becomes a non-spiking integrator whose potential is the evidence for each class
(the prediction at step t is its argmax). A layer where a residual sum meets takes the
threshold of the ANN's activation after the sum; every edge carries its source's spikes scaled
by the source's threshold (``neurosnn.snn.synapses``), so each path arrives in the target's
units.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from neurosnn.conversion.balance import ITERATIONS as BALANCE_ITERATIONS
from neurosnn.conversion.balance import balance_thresholds
from neurosnn.conversion.build import build_network
from neurosnn.conversion.calibrate import batches_of, calibrate
from neurosnn.conversion.fold import fold_graph
from neurosnn.conversion.linear import read_graph
from neurosnn.conversion.options import THRESHOLD_SOURCES, ThresholdSource
from neurosnn.conversion.thresholds import (
    channel_thresholds,
    channelwise_layers,
    rescale_channels,
    trained_thresholds,
)
from neurosnn.conversion.trace import float32_copy, select_output, trace
from neurosnn.errors import UserError
from neurosnn.networks.blocks import QCFS
from neurosnn.snn.graph import INPUT, Node, SNNGraph
from neurosnn.snn.network import ConvertedSNN
from neurosnn.snn.options import PERCENTILE_OF, PercentileOf
from neurosnn.snn.synapses import ScaleShift


def ann_graph(model: nn.Module, input_shape: tuple[int, ...]) -> SNNGraph:
    """The ANN as the converter sees it: a graph of IF nodes (each with the ANN's activation)
    and folded edges, checked against the model on a random probe. Works on a copy.

    Args:
        model: the trained network (any ``nn.Module`` torch.fx can trace).
        input_shape: ``(C, H, W)`` of one input.

    Returns:
        The graph ``convert`` would build the SNN from; its nodes name the SNN's layers.

    Raises:
        ConversionError: the model holds something that does not convert (its message names
            the module or source line)."""
    return _graph_of(float32_copy(model), input_shape)


def input_normalisation(model: nn.Module, input_shape: tuple[int, ...]) -> str | None:
    """Where ``model`` normalises its own input (``(x - mean) / std`` or a BatchNorm before
    any convolution: a constant shift on a connection from the input), else None (also where
    the model does not convert: ``convert`` says why)."""
    try:
        graph = read_graph(trace(float32_copy(model), input_shape))
    except UserError:  # ConversionError included
        return None
    for edge in graph.edges:
        first = edge.ops[0] if edge.source == INPUT and len(edge.ops) else None
        if isinstance(first, ScaleShift) and first.shift is not None:
            return f"the input of layer {edge.target}"
    return None


def _graph_of(ann: nn.Module, input_shape: tuple[int, ...]) -> SNNGraph:
    graph = read_graph(trace(ann, input_shape))
    fold_graph(graph)
    check_graph(graph, ann)
    return graph


def chain_stages(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, nn.Sequential]]:
    """The model as a chain of stages that hold its own modules (BatchNorm unfolded), each
    named like the SNN layer it becomes, for training them (``neurosnn.learn.surrogate.agd``);
    raises for a model that is not a chain. ``act(stage(x))`` of each stage but the last is a
    hidden layer's activation."""
    flags = {m: m.training for m in model.modules()}
    model.eval()  # the shape probe must not move BatchNorm's running statistics
    try:
        graph = read_graph(trace(model, input_shape), copy_ops=False)
    finally:
        for m, training in flags.items():
            m.train(training)
    if not graph.is_chain:
        joins = [n for n in graph.names if len(graph.sources(n)) > 1]
        raise UserError(
            f"this needs a chain of layers; layer {joins[0]} sums {len(graph.sources(joins[0]))} "
            "inputs (residual networks convert, but are not trained layer by layer here)"
        )
    return [(e.target, e.ops) for e in graph.edges]


def _with_relus(graph: SNNGraph) -> SNNGraph:
    """The same graph with every QCFS activation a ReLU (QCFS's floor would amplify the ulps by
    which a folded network differs)."""
    nodes = [
        Node(n.name, n.shape, nn.ReLU() if isinstance(n.activation, QCFS) else n.activation)
        for n in graph.nodes
    ]
    return SNNGraph(graph.input_shape, nodes, graph.edges)


def _relu_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every QCFS activation replaced by a ReLU."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for key, child in parent.named_children():
            if isinstance(child, QCFS):
                setattr(parent, key, nn.ReLU())
    return model


@torch.no_grad()
def check_graph(graph: SNNGraph, ann: nn.Module) -> None:
    """Raise if ``graph`` does not compute ``ann``'s output on a random probe (ReLU for QCFS
    on both sides)."""
    probe = torch.randn(2, *graph.input_shape, generator=torch.Generator().manual_seed(0))
    reference = _relu_model(ann)(probe)
    *_, (_, out, _) = _with_relus(graph).ann_forward(probe)
    if out.shape != reference.shape or not torch.allclose(out, reference, rtol=1e-4, atol=1e-4):
        raise RuntimeError(
            "the traced and folded network does not reproduce the ANN's output; "
            "its forward() does something the converter cannot see"
        )


@torch.no_grad()
def convert(
    model: nn.Module,
    calibration_batches: Iterable,
    input_shape: tuple[int, ...],
    percentile: float = 99.7,
    device: torch.device | str = "cpu",
    *,
    percentile_of: PercentileOf = "all",
    channelwise: bool | Sequence[str] = False,
    phi: float | Sequence[float] = 0.0,
    thresholds: ThresholdSource = "percentile",
    balance_iterations: int = BALANCE_ITERATIONS,
    output: int | str | None = None,
) -> ConvertedSNN:
    """Convert a trained ANN (any torch.fx-traceable CNN: chains, residual sums,
    concatenations) to a BindsNET SNN of subtractive-reset IF neurons.

    Args:
        model: the ANN; it is copied, never changed (float64 models convert in float32).
        calibration_batches: normalised inputs ``[B, C, H, W]`` for the activation histograms
            (a few hundred to a few thousand images): tensors or ``(x, y)`` pairs, e.g. a
            ``DataLoader``, on any device, in any float type.
        input_shape: shape of one input sample, ``(C, H, W)``.
        percentile: initial threshold of every layer, as a percentile of its activations.
        device: where the SNN lives.
        percentile_of: ``"all"`` (default): the percentile of all of a layer's ReLU outputs,
            zeros included, as ``np.percentile`` in Lu & Sengupta's public code (the paper's
            99.7); ``"positive"``: of the positive ones only (Rueckauer et al.).
        channelwise: channel-wise thresholds (each channel at its own percentile; SpikingJelly's
            channel-wise mode) for every convolutional layer (``True``) or the named ones. They
            are folded into the weights: each channel's output is divided by its threshold and
            what its spikes feed multiplied by it (the same function), so the layer keeps one
            threshold, ≈ 1, and every engine runs it unchanged; ``snn.channel_scales`` holds
            the channel thresholds in the ANN's units.
        phi: initial membrane potential ``φ·θ`` of every IF layer (one value or one per
            layer), φ in [0, 1).
        thresholds: ``"percentile"`` (calibrated), ``"trained"``: each layer's threshold is
            its QCFS activation's trained λ (Bu et al.; the network must use QCFS everywhere;
            pair it with ``phi=0.5``), or ``"balanced"``: Bu, Li & Yu's local threshold
            balancing (CVPR 2025, ``neurosnn.conversion.balance``) on the calibration images,
            one threshold per channel or feature, folded into the weights as channel-wise
            ones (a ReLU network; pair it with ``phi=0.5``; ``percentile`` is then unused).
        balance_iterations: the balancing's steps of 100 calibration images (the authors' 12;
            the images are cycled when there are fewer).
        output: for a model that returns several outputs (a tuple, list or dict: auxiliary
            heads), the index or key of the class scores (``select_output``).

    Returns:
        The converted SNN with thresholds set to ``percentile`` (or to the trained λ).
    """
    if percentile_of not in PERCENTILE_OF:
        raise UserError(f"percentile_of must be one of {PERCENTILE_OF}, got {percentile_of!r}")
    if thresholds not in THRESHOLD_SOURCES:
        raise UserError(f"thresholds must be one of {THRESHOLD_SOURCES}, got {thresholds!r}")
    ann = float32_copy(model)
    if output is not None:
        ann = select_output(ann, output)
    graph = _graph_of(ann, input_shape)
    acts = {n.name: n.activation for n in graph.nodes[:-1]}
    lambdas = trained_thresholds(acts) if thresholds == "trained" else None
    if lambdas is not None and channelwise:
        raise UserError("channelwise: trained thresholds are one per layer (QCFS's λ)")
    if thresholds == "balanced" and channelwise:
        raise UserError("channelwise: balanced thresholds are channel-wise already")
    channel_layers = channelwise_layers(channelwise, graph)
    for name in channel_layers:
        if isinstance(acts[name], QCFS | nn.Hardtanh):
            raise UserError(
                f"channelwise: layer {name} ends in a {type(acts[name]).__name__} activation, "
                "which one scale per channel does not commute with"
            )
    batches = batches_of(calibration_batches)
    calibration, per_channel = calibrate(graph, batches, channels=channel_layers)
    scales = {}
    for name in channel_layers:
        scales[name] = channel_thresholds(per_channel[name], percentile, percentile_of)
        rescale_channels(graph, name, scales[name])
    if thresholds == "balanced":
        for name, theta in balance_thresholds(graph, batches, balance_iterations).items():
            scales[name] = torch.where(theta > 0, theta, torch.ones_like(theta))
            rescale_channels(graph, name, scales[name])
    if scales:
        check_graph(graph, ann)
        calibration, _ = calibrate(graph, batches)  # channel-wise nets are ReLU nets
    snn = ConvertedSNN(
        build_network(graph),
        graph.names,
        graph.input_shape,
        calibration,
        percentile_of=percentile_of,
        channel_scales={n: v.float() for n, v in scales.items()},
        activations=acts,
    )
    if lambdas is not None:
        snn.set_thresholds(lambdas)
    elif thresholds == "balanced":
        snn.set_thresholds([1.0] * len(snn.if_names))  # the thresholds are in the weights
    else:
        snn.set_percentiles(percentile)
    snn.set_phi(phi)
    return snn.to(device)
