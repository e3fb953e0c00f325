"""Conversion recipes that change thresholds: channel-wise thresholds (each channel at its own
percentile, folded into the weights; SpikingJelly's channel-wise mode) and the trained λ of a
network with QCFS activations as thresholds (Bu et al., ICLR 2022)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neurosnn.conversion.linear import channel_view
from neurosnn.errors import UserError
from neurosnn.networks.blocks import QCFS
from neurosnn.snn.graph import SNNGraph
from neurosnn.snn.network import ActivationHistogram
from neurosnn.snn.options import PercentileOf
from neurosnn.snn.synapses import WEIGHTED, ScaleShift, SpikeMaxPool2d


def channel_thresholds(
    hists: list[ActivationHistogram], percentile: float, of: PercentileOf
) -> torch.Tensor:
    """``[C]`` each channel's threshold: its own ``percentile`` (over ``of``). A channel whose
    percentile over all outputs is 0 (it is silent almost everywhere) takes the percentile of
    its positive values; a channel that never fired keeps 1 (its weights stay as they are)."""
    out = []
    for h in hists:
        if h.max <= 0:
            out.append(1.0)
            continue
        value = h.percentile(percentile, of)
        out.append(value if value > 0 else h.percentile(percentile, "positive"))
    return torch.tensor(out, dtype=torch.float64)


def channelwise_layers(channelwise: bool | Sequence[str], graph: SNNGraph) -> list[str]:
    """The IF layers ``channelwise`` names (``True``: every convolutional one); raises for a
    name that is not an IF layer or has no channels."""
    hidden = {n.name: n.shape for n in graph.nodes[:-1]}
    if channelwise is True:
        return [n for n, shape in hidden.items() if len(shape) == 3]
    if channelwise is False:
        return []
    if isinstance(channelwise, str):
        channelwise = [channelwise]
    for name in channelwise:
        if name not in hidden:
            raise UserError(f"channelwise: {name!r} is not an IF layer; IF layers: {list(hidden)}")
        if len(hidden[name]) != 3:
            raise UserError(
                f"channelwise: layer {name} has no channels (shape {hidden[name]}); only "
                "convolutional layers can have channel-wise thresholds"
            )
    return list(channelwise)


def rescale_channels(graph: SNNGraph, name: str, scales: torch.Tensor) -> None:
    """Divide node ``name``'s channels by ``scales [C]`` and multiply what its spikes feed by
    them, in place: the same function (ReLU, pooling and spike max pooling commute with a
    positive per-channel scale), with each channel in its own units. Where an edge has no
    Conv2d/Linear to take the factor (an identity shortcut), it gets a ScaleShift."""
    node_shape = graph.node(name).shape
    for edge in graph.incoming(name):
        ops = list(edge.ops)
        k = _last_weighted(ops)
        if k is not None and all(isinstance(m, nn.AvgPool2d) for m in ops[k + 1 :]):
            layer = ops[k]
            s = scales.to(layer.weight.dtype)
            layer.weight.div_(s.view(-1, *(1,) * (layer.weight.dim() - 1)))
            if layer.bias is not None:
                layer.bias.div_(s)
        else:
            ops.append(ScaleShift(channel_view(1.0 / scales.float(), node_shape)))
        edge.ops = nn.Sequential(*ops)
    for edge in graph.edges:
        if edge.source != name:
            continue
        ops = list(edge.ops)
        start = 1 if ops and isinstance(ops[0], nn.MaxPool2d | SpikeMaxPool2d) else 0
        k = start
        while k < len(ops) and isinstance(ops[k], nn.AvgPool2d | nn.Flatten):
            k += 1
        layer = ops[k] if k < len(ops) else None
        flat = any(isinstance(m, nn.Flatten) for m in ops[start:k])
        s = scales.to(torch.float32)
        if isinstance(layer, nn.Conv2d) and layer.groups == 1 and not flat:
            layer.weight.mul_(s.view(1, -1, 1, 1))
        elif isinstance(layer, nn.Linear) and flat and layer.in_features % len(s) == 0:
            # a Linear after Flatten: channel-major features
            layer.weight.mul_(s.repeat_interleave(layer.in_features // len(s)).view(1, -1))
        else:
            ops.insert(start, ScaleShift(channel_view(s, node_shape)))
        edge.ops = nn.Sequential(*ops)


def _last_weighted(ops: list[nn.Module]) -> int | None:
    found = [i for i, m in enumerate(ops) if isinstance(m, WEIGHTED)]
    return found[-1] if found else None


def trained_thresholds(acts: dict[str, nn.Module]) -> list[float]:
    """Each hidden layer's QCFS λ, or the clip ``a`` of a clipped ReLU (ReLU6,
    ``Hardtanh(0, a)``: the rate of an IF layer of threshold ``a`` is ``min(max(x, 0), a)``);
    raises naming a layer with neither."""
    values = []
    for name, act in acts.items():
        if isinstance(act, nn.Hardtanh):
            values.append(float(act.max_val))
            continue
        if not isinstance(act, QCFS):
            raise UserError(
                f"thresholds='trained': layer {name} ends in {type(act).__name__}, not a QCFS "
                "activation with a trained threshold or a clipped ReLU (train with --option "
                "activation=qcfs or nq)"
            )
        if not float(act.threshold) > 0:
            raise UserError(f"thresholds='trained': λ of layer {name} is {float(act.threshold)}")
        values.append(float(act.threshold))
    return values
