"""Folding the operators of each edge into as few as compute the same function.

* A BatchNorm right after a Conv2d/Linear goes into its weights and bias; any other BatchNorm
  becomes a per-channel ``neurosnn.snn.synapses.ScaleShift``.
* A per-channel scale and shift right after a Conv2d/Linear (or after average pooling that
  follows one: they commute) goes into its weights and bias; two in a row become one.
* A ``neurosnn.snn.synapses.ChannelPad`` (one part of a concatenation) before a Conv2d or
  Linear (through average pooling and flatten) selects the weights of its channels instead.

The folded edge computes the same function as the original up to float rounding; the
converter checks the whole graph against the ANN.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from neurosnn.conversion.linear import batchnorm_affine, channel_view
from neurosnn.snn.graph import INPUT, SNNGraph
from neurosnn.snn.synapses import WEIGHTED, ChannelPad, ScaleShift, SpikeMaxPool2d

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _per_channel(t: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor | None:
    """``t`` (broadcast over one sample of ``shape``) as a ``[C]`` vector, or None when it
    varies along anything but the channels."""
    if t.dim() == 0:
        return t.expand(shape[0]).clone()
    if t.dim() > len(shape) or any(d != 1 for d in t.shape[1:]):
        return None
    if t.dim() < len(shape):  # aligned to the last dimensions: channels only if 1-D sample
        return (
            t.expand(shape[0]).clone() if len(shape) == 1 and t.numel() in (1, shape[0]) else None
        )
    return t.reshape(-1).expand(shape[0]).clone() if t.shape[0] in (1, shape[0]) else None


def _fold_batchnorm(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """The Conv2d/Linear ``layer`` followed by ``bn``, as one module (a new one)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    bias = layer.bias.detach() if layer.bias is not None else torch.zeros_like(scale)
    fused = copy.deepcopy(layer)
    shape = (-1,) + (1,) * (layer.weight.dim() - 1)
    fused.weight = nn.Parameter(layer.weight.detach() * scale.view(shape), requires_grad=False)
    fused.bias = nn.Parameter(
        (bias - bn.running_mean) * scale + bn.bias.detach(), requires_grad=False
    )
    return fused


def _fold_affine(layer: nn.Module, scale: torch.Tensor, shift: torch.Tensor | None) -> nn.Module:
    """``layer`` followed by ``x·scale + shift`` per output channel (``[C]`` each)."""
    fused = copy.deepcopy(layer)
    shape = (-1,) + (1,) * (layer.weight.dim() - 1)
    fused.weight = nn.Parameter(layer.weight.detach() * scale.view(shape), requires_grad=False)
    if layer.bias is not None or shift is not None:
        bias = layer.bias.detach() * scale if layer.bias is not None else torch.zeros_like(scale)
        fused.bias = nn.Parameter(bias if shift is None else bias + shift, requires_grad=False)
    return fused


def _merge(a: ScaleShift, b: ScaleShift) -> ScaleShift:
    """``b(a(x))`` as one: ``x·(sa·sb) + (ha·sb + hb)``."""
    shift = None if a.shift is None else a.shift * b.scale
    if b.shift is not None:
        shift = b.shift if shift is None else shift + b.shift
    return ScaleShift(a.scale * b.scale, shift)


def _probe(m: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        x = torch.zeros(1, *shape)
        y = m.gate(x, x) if isinstance(m, SpikeMaxPool2d) else m(x)
    return tuple(y.shape[1:])


def _push(out: list, shapes: list, op: nn.Module) -> None:
    """Append ``op`` to the folded ops ``out`` (``shapes[i]``: the input shape of ``out[i]``,
    the last entry the current shape), folding it into what comes before where it can."""
    shape = shapes[-1]
    if isinstance(op, _BATCHNORMS):
        if out and isinstance(out[-1], WEIGHTED):
            out[-1] = _fold_batchnorm(out[-1], op)
            return
        scale, shift = batchnorm_affine(op)
        op = ScaleShift(channel_view(scale, shape), channel_view(shift, shape))
    if isinstance(op, ScaleShift):
        if out and isinstance(out[-1], ScaleShift):
            merged = _merge(out.pop(), op)
            shapes.pop()
            _push(out, shapes, merged)
            return
        scale = _per_channel(op.scale, shape)
        shift = None if op.shift is None else _per_channel(op.shift, shape)
        per_channel = scale is not None and (op.shift is None or shift is not None)
        if per_channel and out and isinstance(out[-1], WEIGHTED):
            out[-1] = _fold_affine(out[-1], scale, shift)
            return
        pool = out[-1] if out else None
        if per_channel and isinstance(pool, nn.AvgPool2d) and _commutes(pool, op):
            out.pop()
            shapes.pop()
            _push(
                out,
                shapes,
                ScaleShift(
                    channel_view(scale, shapes[-1]),
                    None if shift is None else channel_view(shift, shapes[-1]),
                ),
            )
            _push(out, shapes, pool)
            return
    out.append(op)
    shapes.append(_probe(op, shape))


def _commutes(pool: nn.AvgPool2d, op: ScaleShift) -> bool:
    """Whether a per-channel ``op`` after ``pool`` equals it before (a shift only where every
    window averages real inputs)."""
    padding = pool.padding if isinstance(pool.padding, tuple) else (pool.padding,)
    return op.shift is None or (not any(padding) and not pool.ceil_mode)


def _slice_pads(ops: list[nn.Module], shape: tuple[int, ...]) -> list[nn.Module]:
    """A ChannelPad followed (through average pooling and flatten) by a Conv2d or Linear
    becomes that layer restricted to the padded part's channels."""
    for i, op in enumerate(ops):
        if not isinstance(op, ChannelPad):
            continue
        j = i + 1
        while j < len(ops) and isinstance(ops[j], nn.AvgPool2d | nn.Flatten):
            j += 1
        if j == len(ops) or not isinstance(ops[j], WEIGHTED):
            continue
        layer = ops[j]
        channels = _shape_at(ops, i, shape)[0]  # the part's own channels
        flat = _shape_at(ops, j, shape)
        if isinstance(layer, nn.Conv2d) and layer.groups == 1:
            w = layer.weight.detach()[:, op.before : op.before + channels]
        elif isinstance(layer, nn.Linear) and len(flat) == 1:
            per = flat[0] // (op.before + channels + op.after)  # features per channel
            w = layer.weight.detach()[:, op.before * per : (op.before + channels) * per]
        else:
            continue
        sliced = copy.deepcopy(layer)
        sliced.weight = nn.Parameter(w.clone(), requires_grad=False)
        if isinstance(layer, nn.Conv2d):
            sliced.in_channels = channels
        else:
            sliced.in_features = w.shape[1]
        rest = [*ops[i + 1 : j], sliced, *ops[j + 1 :]]
        return _slice_pads([*ops[:i], *rest], shape)
    return ops


def _shape_at(ops: list[nn.Module], index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The input shape of ``ops[index]`` for an edge input of ``shape``."""
    for m in ops[:index]:
        shape = _probe(m, shape)
    return shape


def fold_ops(ops: nn.Sequential, input_shape: tuple[int, ...]) -> nn.Sequential:
    """The folded form of one edge's operators (new modules where anything folded)."""
    out: list[nn.Module] = []
    shapes = [tuple(input_shape)]
    for op in ops:
        _push(out, shapes, op)
    return nn.Sequential(*_slice_pads(out, tuple(input_shape))).eval().requires_grad_(False)


def fold_graph(graph: SNNGraph) -> None:
    """Fold every edge of ``graph`` in place."""
    shapes = {INPUT: graph.input_shape, **{n.name: n.shape for n in graph.nodes}}
    for edge in graph.edges:
        edge.ops = fold_ops(edge.ops, shapes[edge.source])
