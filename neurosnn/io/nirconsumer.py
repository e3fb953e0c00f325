"""Run a NIR file outside neurosnn, with ``nirtorch`` (>= 2.6), to check what it exports.

nirtorch builds the graph (``nirtorch.nir_to_torch``): its own modules for ``Conv2d`` and
``AvgPool2d``, its wiring and its per-step state. It has no neuron models, so the IF layer and
the output integrator here are written from NIR's definitions (``v += r·x`` per step of
``dt = 1``), with the reset and comparison the file's metadata names (neurosnn's: subtract,
``>=``; NIR's own IF: reset to ``v_reset``, ``>``; both can be run). ``Scale``, which
nirtorch 2.6 does not map, is added, and two of its default maps are replaced because they are
wrong here: ``Affine`` drops the bias (it sets ``weight.bias``), and ``Flatten`` passes NIR's
dimensions, which do not count the batch, to ``torch.nn.Flatten``, which does.

    curves = compare("tuned.nir", batches, timesteps=100)  # accuracy per step of each, agreement
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from neurosnn.snn.network import ConvertedSNN

Reset = Literal["subtract", "zero"]


class IFNeuron(torch.nn.Module):
    """NIR ``IF`` stepped with ``dt = 1``: ``v += r·x``, spike where ``v`` reaches ``θ``."""

    def __init__(self, node, reset: Reset, inclusive: bool, phi: float) -> None:
        super().__init__()
        self.r = torch.from_numpy(np.asarray(node.r, np.float32))
        self.theta = torch.from_numpy(np.asarray(node.v_threshold, np.float32))
        self.v_reset = torch.from_numpy(np.asarray(node.v_reset, np.float32))
        self.reset, self.inclusive, self.phi = reset, inclusive, phi

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        v = self.phi * self.theta.expand_as(x) if state is None else state
        v = v + self.r * x
        z = (v >= self.theta) if self.inclusive else (v > self.theta)
        z = z.to(x.dtype)
        v = v - z * self.theta if self.reset == "subtract" else torch.where(z > 0, self.v_reset, v)
        return z, v


class Integrator(torch.nn.Module):
    """NIR ``I`` stepped with ``dt = 1``: ``v += r·x``; the output is ``v``."""

    def __init__(self, node) -> None:
        super().__init__()
        self.r = torch.from_numpy(np.asarray(node.r, np.float32))

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        v = self.r * x if state is None else state + self.r * x
        return v, v


def _affine(node) -> torch.nn.Linear:
    m = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0])
    m.weight.data = torch.from_numpy(np.asarray(node.weight, np.float32))
    m.bias.data = torch.from_numpy(np.asarray(node.bias, np.float32))
    return m


class Scale(torch.nn.Module):
    """NIR ``Scale``: ``x ⊙ s`` (nirtorch 2.6 has no map for it)."""

    def __init__(self, node) -> None:
        super().__init__()
        self.s = torch.from_numpy(np.asarray(node.scale, np.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.s


def _flatten(node) -> torch.nn.Flatten:
    end = int(node.end_dim)
    return torch.nn.Flatten(int(node.start_dim) + 1, end + 1 if end >= 0 else end)


def build(path: str | Path, reset: Reset | None = None, inclusive: bool | None = None):
    """nirtorch's module for the file; ``reset``/``inclusive`` default to the file's
    neurosnn metadata (subtract, ``>=``), else to NIR's IF (reset to ``v_reset``, ``>``)."""
    import nir
    import nirtorch

    from neurosnn.io.h5safe import check_self_contained
    from neurosnn.io.nirio import graph_metadata

    check_self_contained(path)
    graph = nir.read(path)
    info = graph_metadata(graph)
    by_name = dict(zip(info.get("layer_names") or [], info.get("phi") or [], strict=False))
    phi = {id(n): by_name.get(k, 0.0) for k, n in graph.nodes.items() if isinstance(n, nir.IF)}
    if reset is None:
        reset = "subtract" if info else "zero"
    if inclusive is None:
        inclusive = bool(info)
    node_map = {
        nir.IF: lambda n: IFNeuron(n, reset, inclusive, phi.get(id(n), 0.0)),
        nir.I: Integrator,
        nir.Affine: _affine,
        nir.Flatten: _flatten,
        nir.Scale: Scale,
    }
    return nirtorch.nir_to_torch(graph, node_map)


@torch.no_grad()
def compare(
    path: str | Path,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    timesteps: int,
    original: ConvertedSNN | None = None,
) -> dict[str, list[float]]:
    """neurosnn and nirtorch on the same NIR file, step by step (``delay="none"``, the timing
    NIR executors use): each one's accuracy (``neurosnn``, ``nirtorch``), the share of images
    both predict the same (``same``), nirtorch under NIR's own IF (reset to ``v_reset``, fire
    on ``>``; ``nir_if``) for contrast and, given the SNN the file was exported from, its
    accuracy (``original``) and how often nirtorch agrees with it (``same_as_original``)."""
    from neurosnn.io.nirio import read_nir

    snn, _ = read_nir(path)
    ours, literal = build(path), build(path, reset="zero", inclusive=False)
    keys = ["neurosnn", "nirtorch", "same", "nir_if"]
    keys += ["original", "same_as_original"] if original is not None else []
    tally = {k: torch.zeros(timesteps, dtype=torch.float64) for k in keys}
    n = 0
    for x, y in batches:
        preds = predictions(snn, x, timesteps)
        first = None if original is None else predictions(original, x, timesteps)
        states: list = [None, None]
        for t in range(timesteps):
            outs = []
            for k, module in enumerate((ours, literal)):
                out, states[k] = module(x, states[k]) if states[k] is not None else module(x)
                outs.append(out.argmax(1))
            tally["neurosnn"][t] += float((preds[t] == y).sum())
            tally["nirtorch"][t] += float((outs[0] == y).sum())
            tally["same"][t] += float((outs[0] == preds[t]).sum())
            tally["nir_if"][t] += float((outs[1] == y).sum())
            if first is not None:
                tally["original"][t] += float((first[t] == y).sum())
                tally["same_as_original"][t] += float((outs[0] == first[t]).sum())
        n += len(y)
    if n == 0:
        raise ValueError("no images to compare on")
    return {k: (v / n).tolist() for k, v in tally.items()}


def predictions(snn: ConvertedSNN, x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """``[T, B]`` neurosnn's prediction at each step, ``delay="none"``."""
    from neurosnn.simulation.engine.fast import run_blocks

    theta, phi = torch.tensor(snn.thresholds), torch.tensor(snn.phi)
    blocks = run_blocks(
        snn,
        x,
        timesteps,
        theta.expand(len(x), -1),
        phi=phi.expand(len(x), -1),
        delay="none",
        keep_spikes=False,
    )
    return torch.cat([b.output.argmax(-1) for b in blocks])
