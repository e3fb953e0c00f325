"""Calibration: streamed histograms of each IF node's ANN activation, from which thresholds are
read as percentiles (``neurosnn.snn.network.ActivationHistogram``).

Two passes over the calibration batches: the first finds each node's maximum, the second bins
its positive activations (and counts its zeros) over ``[0, max]``. A node's activation is what
the ANN computes there (``neurosnn.snn.graph.SNNGraph.ann_forward``): at a residual sum, the
activation after the sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from neurosnn.errors import UserError
from neurosnn.snn.graph import SNNGraph
from neurosnn.snn.network import ActivationHistogram

HISTOGRAM_BINS = 8192
CHANNEL_BINS = 2048  # per channel: 512 channels × 2,048 bins × 8 bytes = 8 MiB a layer


def _hidden(graph: SNNGraph, x: torch.Tensor):
    for name, _, act in graph.ann_forward(x):
        if name != graph.output:
            yield name, act


@torch.no_grad()
def calibrate(
    graph: SNNGraph,
    batches: Sequence[torch.Tensor],
    bins: int = HISTOGRAM_BINS,
    channels: Sequence[str] = (),
    channel_bins: int = CHANNEL_BINS,
) -> tuple[dict[str, ActivationHistogram], dict[str, list[ActivationHistogram]]]:
    """Histograms of each IF node's activation (positive values binned, zeros counted); for
    the nodes in ``channels`` also one histogram per channel.

    Returns:
        ``(per node, per channel of the nodes in channels)``.
    """
    if not batches:
        raise UserError("calibration needs at least one batch of data")
    names = graph.names[:-1]
    maxima = dict.fromkeys(names, 0.0)
    channel_max: dict[str, torch.Tensor] = {}
    for x in batches:
        for name, a in _hidden(graph, x):
            maxima[name] = max(maxima[name], float(a.max()))
            if name in channels:
                m = a.transpose(0, 1).flatten(1).amax(1).double()
                channel_max[name] = torch.maximum(channel_max.get(name, m), m)
    counts = {n: torch.zeros(bins, dtype=torch.float64) for n in names}
    zeros = dict.fromkeys(names, 0.0)
    per_channel = {
        n: (torch.zeros(len(m), channel_bins, dtype=torch.float64), torch.zeros(len(m)))
        for n, m in channel_max.items()
    }
    for x in batches:
        for name, a in _hidden(graph, x):
            if maxima[name] > 0:
                pos = a[a > 0].float().cpu()
                counts[name] += torch.histc(pos, bins, 0.0, maxima[name]).double()
                zeros[name] += a.numel() - pos.numel()
            if name in per_channel:
                _add_channel_counts(a, channel_max[name], *per_channel[name])
    for name, m in maxima.items():
        if m <= 0:
            raise UserError(
                f"layer {name} never activated on the calibration data; use more calibration images"
            )
    layers = {n: ActivationHistogram(counts[n], maxima[n], zeros[n]) for n in names}
    channel_hists = {
        n: [
            ActivationHistogram(c, float(m), float(z))
            for c, m, z in zip(hist, channel_max[n], nz, strict=True)
        ]
        for n, (hist, nz) in per_channel.items()
    }
    return layers, channel_hists


def _add_channel_counts(a, maxima, counts, zeros) -> None:
    """Bin ``a [B, C, ...]`` channel by channel into ``counts [C, bins]`` of equal width over
    ``[0, max_c]`` (as ``torch.histc``), counting the zeros in ``zeros [C]``."""
    c, bins = counts.shape
    a = a.transpose(0, 1).flatten(1).double()  # [C, n]
    top = maxima.clamp_min(torch.finfo(torch.float64).tiny).unsqueeze(1)
    index = (a / top * bins).long().clamp_(max=bins - 1)
    index += torch.arange(c).unsqueeze(1) * bins
    positive = a > 0
    counts += torch.bincount(index[positive], minlength=c * bins).view(c, bins).double()
    zeros += (~positive).sum(1).double()


def batches_of(data: Iterable) -> list[torch.Tensor]:
    """Calibration inputs as float32 CPU tensors, from any iterable of tensors or of
    ``(x, y)`` pairs (a ``DataLoader``, a list, a generator)."""
    out = []
    for item in data:
        x = item[0] if isinstance(item, tuple | list) else item
        if not isinstance(x, torch.Tensor):
            raise UserError(
                f"calibration data must yield tensors or (x, y) pairs, got {type(item).__name__}"
            )
        if x.is_complex() or not bool(torch.isfinite(x).all()):
            raise UserError("calibration data holds values that are not finite real numbers")
        if len(x):
            out.append(x.detach().to("cpu", torch.float32))
    if not out:
        raise UserError("calibration needs at least one image; the batches were empty")
    return out
