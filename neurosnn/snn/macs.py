"""Multiply-accumulate counts of a converted SNN's connections: what one dense pass of each
connection costs per image (Panda, Aketi & Roy 2020, Eq. 9–10), and which layers feed which.
The energy model (``neurosnn.measures.energy``) weighs these counts by the spikes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # readers of result files (analysis) need neither torch nor bindsnet
    from torch import nn


def weighted_macs(module: nn.Module, output_shape: tuple[int, ...]) -> int:
    """MACs per image of one Conv2d or Linear producing ``output_shape`` (one sample)."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw
        return int(np.prod(output_shape)) * per_output
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    raise TypeError(f"no MAC count for {type(module).__name__}")


def connection_macs(ops: nn.Sequential, input_shape: tuple[int, ...]) -> int:
    """MACs per image of the Conv2d/Linear inside ``ops`` applied to one ``input_shape``."""
    import torch
    from torch import nn

    from neurosnn.snn.synapses import SpikeMaxPool2d

    shapes = {}

    def hook(module, args, output):
        shapes[module] = tuple(output.shape[1:])

    weighted = [m for m in ops if isinstance(m, nn.Conv2d | nn.Linear)]
    if not weighted:  # an identity or pooling-only connection: no multiplications
        return 0
    handles = [m.register_forward_hook(hook) for m in weighted]
    try:
        x = torch.zeros(1, *input_shape, device=weighted[0].weight.device)
        with torch.no_grad():
            for m in ops:  # one module at a time: stateful spike pooling is not touched
                x = m.gate(x, x) if isinstance(m, SpikeMaxPool2d) else m(x)
    finally:
        for h in handles:
            h.remove()
    return sum(weighted_macs(m, shapes[m]) for m in weighted)


# per layer: (source, dense MACs per image); source None: fed by nothing the network counts
Inputs = Mapping[str, Sequence[tuple[str | None, int]]]


def layer_inputs(snn) -> dict[str, list[tuple[str, int]]]:
    """Per layer of a converted SNN, ``(source, dense MACs per image)`` of each connection into
    it (the source ``"input"`` is the image)."""
    shapes = {"input": tuple(snn.input_shape)}
    shapes.update({n: tuple(snn.layer(n).shape) for n in snn.layer_names})
    return {
        n: [(s, connection_macs(c.ops, shapes[s])) for s, c in snn.incoming(n)]
        for n in snn.layer_names
    }


def chain_inputs(layer_names: Sequence[str], macs: Mapping[str, int]) -> dict:
    """``Inputs`` of a chain: layer i is fed by layer i − 1 (the first by a real-valued
    input, the image)."""
    missing = [n for n in layer_names if n not in macs]
    if missing:
        raise ValueError(f"no MAC count for layers {missing}")
    sources = [None, *layer_names[:-1]]
    return {n: [(s, int(macs[n]))] for n, s in zip(layer_names, sources, strict=True)}
