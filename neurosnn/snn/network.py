"""The converted SNN: a BindsNET ``Network`` plus the metadata neurosnn needs.

Layer names are the ANN's module paths (``features.3``), thresholds are one per IF layer and
can be set as values or as percentiles of the layer's calibrated ANN activations, in place.
The network's layers are a graph (``neurosnn.snn.graph``): each layer sums the currents of its
incoming connections, in the order they were added (BindsNET's own order).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Nodes
from bindsnet.network.topology import AbstractConnection
from torch import nn

from neurosnn._moved import deprecated
from neurosnn.errors import UserError
from neurosnn.snn.graph import INPUT, Edge, Node, SNNGraph, path_lengths
from neurosnn.snn.options import PERCENTILE_OF, PercentileOf, check_phi
from neurosnn.snn.synapses import OpsConnection, SpikeMaxPool2d

MIN_THRESHOLD = float(torch.finfo(torch.float32).tiny)  # smallest normal float32
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


class SNNNetwork(Network):
    """BindsNET ``Network`` that accepts dotted layer names (``features.0``).

    ``torch.nn.Module.add_module`` forbids dots, so the submodule is registered under a
    sanitised name while ``layers``/``connections`` keep the real one.
    """

    @staticmethod
    def _module_name(name: str) -> str:
        return name.replace(".", "_")

    def forward(self, *args, **kwargs):
        raise TypeError(
            "a BindsNET network is run with network.run(inputs, time); to call the SNN as a "
            "torch module, use neurosnn.SNNModule(snn): net(x) one step, net.run(x, T) T steps"
        )

    def add_layer(self, layer: Nodes, name: str) -> None:
        self.layers[name] = layer
        self.add_module(self._module_name(name), layer)
        layer.train(self.learning)
        layer.compute_decays(self.dt)
        layer.set_batch_size(self.batch_size)

    def add_connection(self, connection: AbstractConnection, source: str, target: str) -> None:
        """Add a connection under ``(source, target)``, or ``(source, target, k)`` for the
        k-th further one between the same layers (BindsNET reads only the key's target)."""
        k = sum(1 for key in self.connections if key[:2] == (source, target))
        key = (source, target) if k == 0 else (source, target, k)
        self.connections[key] = connection
        suffix = f"_{k}" if k else ""
        self.add_module(self._module_name(f"{source}_to_{target}{suffix}"), connection)
        connection.dt = self.dt
        connection.train(self.learning)


@dataclass
class ActivationHistogram:
    """Streamed histogram of a layer's ANN activations on calibration data.

    ``counts`` holds the positive activations (bins of width ``max / bins`` over ``[0, max]``),
    ``zeros`` the outputs the ReLU set to zero, so both readings of "the p-th percentile"
    come from the one histogram:

    * ``of="all"``: over every output of the ReLU, zeros included — ``np.percentile`` of the
      layer's outputs, as in Lu & Sengupta's public BindsNET conversion code (the paper's 99.7);
    * ``of="positive"``: over the positive activations only, Rueckauer et al.'s robust
      normalisation (and SNN-toolbox's).

    Percentiles are interpolated linearly inside a bin.
    """

    counts: torch.Tensor  # [bins] float64
    max: float
    zeros: float = 0.0  # outputs equal to zero

    def percentile(self, p: float, of: PercentileOf = "positive") -> float:
        if not 0 < p <= 100:
            raise UserError(f"percentile must be in (0, 100], got {p}")
        if of not in PERCENTILE_OF:
            raise UserError(f"percentile_of must be one of {PERCENTILE_OF}, got {of!r}")
        positive = float(self.counts.sum())
        if positive == 0 or self.max <= 0:
            raise UserError("layer never activated on the calibration data")
        target = p / 100.0
        if of == "all":
            # the same rank among all outputs, counted among the positive ones
            rank = target * (positive + self.zeros) - self.zeros
            if rank <= 0:
                return 0.0
            target = min(rank / positive, 1.0)
        cdf = torch.cumsum(self.counts, 0) / positive
        i = int(torch.searchsorted(cdf, torch.tensor(target, dtype=cdf.dtype)))
        i = min(i, len(cdf) - 1)
        below = float(cdf[i - 1]) if i > 0 else 0.0
        inside = float(cdf[i]) - below
        frac = 1.0 if inside <= 0 else min(max((target - below) / inside, 0.0), 1.0)
        width = self.max / len(self.counts)
        return (i + frac) * width

    @property
    def zero_fraction(self) -> float:
        """Share of the layer's outputs that are zero."""
        return self.zeros / max(self.zeros + float(self.counts.sum()), 1.0)


@dataclass
class ConvertedSNN:
    """A converted SNN: the BindsNET network, its layer order and calibration.

    Attributes:
        network: the BindsNET network (layer ``"input"``, IF layers, the output accumulator).
        layer_names: non-input layers in forward order; the last one is the output.
        input_shape: shape of one input sample, ``(C, H, W)``.
        calibration: per IF layer, the histogram of its ANN activations (of the rescaled
            network where thresholds are channel-wise).
        percentile_of: how percentiles are read from the histograms (``"all"`` outputs, zeros
            included, or ``"positive"`` ones; ``ActivationHistogram``).
        channel_scales: per channel-wise layer, ``[C]`` each channel's threshold relative to
            the layer's (folded into the weights; ``neurosnn.conversion.convert``).
        activations: the ANN activation each IF layer replaces (ReLU or QCFS).
        percentiles: percentiles the thresholds were set from, or None if set as values.
    """

    network: SNNNetwork
    layer_names: list[str]
    input_shape: tuple[int, ...]
    calibration: dict[str, ActivationHistogram]
    percentile_of: PercentileOf = "all"
    channel_scales: dict[str, torch.Tensor] = field(default_factory=dict)
    activations: dict[str, torch.nn.Module] = field(default_factory=dict)
    percentiles: list[float] | None = None

    @property
    def if_names(self) -> list[str]:
        return self.layer_names[:-1]

    def fingerprint(self) -> str:
        """SHA-256 of what the network computes before its thresholds are set: every
        connection's weights and biases and each layer's calibration histogram. A saved search
        records it so that it is never resumed on another network."""
        h = hashlib.sha256()
        for key in sorted(self.network.connections, key=str):
            for p in self.network.connections[key].parameters():
                h.update(p.detach().cpu().contiguous().numpy().tobytes())
        for name in self.if_names:
            hist = self.calibration.get(name)  # an imported SNN has no calibration
            if hist is None:
                continue
            h.update(hist.counts.cpu().numpy().tobytes())
            h.update(torch.tensor([hist.max, hist.zeros], dtype=torch.float64).numpy().tobytes())
        return h.hexdigest()

    @property
    def output_name(self) -> str:
        return self.layer_names[-1]

    @property
    def device(self) -> torch.device:
        return self.network.layers[self.output_name].v.device

    def layer(self, name: str) -> Nodes:
        return self.network.layers[name]

    def incoming(self, target: str) -> list[tuple[str, OpsConnection]]:
        """``(source, connection)`` of every connection into ``target``, in the order BindsNET
        sums them."""
        return [(key[0], c) for key, c in self.network.connections.items() if key[1] == target]

    def sources(self, target: str) -> list[str]:
        return [s for s, _ in self.incoming(target)]

    def connection(self, target: str, source: str | None = None) -> OpsConnection:
        """The connection into layer ``target`` (from ``source``, where it has several)."""
        found = self.incoming(target)
        if source is not None:
            found = [(s, c) for s, c in found if s == source]
        if len(found) != 1:
            sources = ", ".join(self.sources(target)) or "none"
            raise UserError(
                f"layer {target} has {len(found)} connections"
                + (f" from {source}" if source else "")
                + f" (its sources: {sources}); name the source"
            )
        return found[0][1]

    @cached_property
    def shortest_paths(self) -> dict[str, int]:
        """Per layer, the connections on the shortest path from the input (with the layer
        delay, the step its input can first arrive)."""
        return path_lengths(self.layer_names, {n: self.sources(n) for n in self.layer_names})

    @cached_property
    def depth(self) -> int:
        """Connections on the longest path from the input to the output: the steps the layer
        delay adds before the output can hear every path."""
        sources = {n: self.sources(n) for n in self.layer_names}
        paths = path_lengths(self.layer_names, sources, max)
        return paths[self.output_name]

    @property
    def is_chain(self) -> bool:
        previous = [INPUT, *self.layer_names[:-1]]
        return all(self.sources(n) == [p] for n, p in zip(self.layer_names, previous, strict=True))

    def to_graph(self) -> SNNGraph:
        """The SNN as a graph value with the ANN's operators (spike max pooling as max pooling)
        and activations; shares the connections' modules."""
        nodes = [
            Node(n, tuple(self.layer(n).shape), self.activations.get(n, nn.ReLU()))
            for n in self.if_names
        ]
        nodes.append(Node(self.output_name, tuple(self.layer(self.output_name).shape), None))
        edges = [Edge(k[0], k[1], ann_ops(c.ops)) for k, c in self.network.connections.items()]
        return SNNGraph(self.input_shape, nodes, edges)

    def ann_forward(self, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """The ANN this SNN stands for (its current weights, unscaled by thresholds), node by
        node: ``(name, pre-activation, activation)`` (``SNNGraph.ann_forward``)."""
        yield from self.to_graph().ann_forward(x)

    @property
    def thresholds(self) -> list[float]:
        return [float(self.layer(n).thresh) for n in self.if_names]

    def set_thresholds(self, values: Sequence[float]) -> None:
        """Set one threshold per IF layer, in ANN activation units; nothing is rebuilt."""
        values = [float(v) for v in values]
        if len(values) != len(self.if_names):
            raise UserError(
                f"expected {len(self.if_names)} thresholds (one per IF layer: "
                f"{', '.join(self.if_names)}), got {len(values)}"
            )
        for name, v in zip(self.if_names, values, strict=True):
            # stored in float32: a value below its smallest normal number would become 0 (or
            # lose its precision), and a threshold of 0 fires every neuron every step
            if not math.isfinite(v) or v < MIN_THRESHOLD or v > FLOAT32_MAX:
                raise UserError(
                    f"threshold of layer {name} must be finite and in [{MIN_THRESHOLD:g}, "
                    f"{FLOAT32_MAX:g}] (float32), got {v}"
                )
        for name, v in zip(self.if_names, values, strict=True):
            self.layer(name).thresh.fill_(v)
        self.percentiles = None

    def percentile_thresholds(self, percentiles: Sequence[float] | float) -> list[float]:
        """The threshold each layer's percentile stands for (``percentile_of`` decides over
        which outputs it is taken); the SNN is not changed."""
        percentiles = self._per_layer(percentiles, "percentiles")
        values = []
        for name, p in zip(self.if_names, percentiles, strict=True):
            if not (math.isfinite(p) and 0 < p <= 100):
                raise UserError(f"percentile of layer {name} must be in (0, 100], got {p}")
            hist = self.calibration[name]
            value = hist.percentile(p, self.percentile_of)
            if value <= 0:
                raise UserError(
                    f"layer {name}: the {p} percentile of all its outputs is 0 "
                    f"({100 * hist.zero_fraction:.2f}% of them are zero); use a higher "
                    "percentile or percentile_of='positive'"
                )
            values.append(value)
        return values

    def _per_layer(self, values: Sequence[float] | float, what: str) -> list[float]:
        """One float per IF layer from one value or a sequence of them."""
        if isinstance(values, int | float):
            return [float(values)] * len(self.if_names)
        values = [float(v) for v in values]
        if len(values) != len(self.if_names):
            raise UserError(
                f"expected {len(self.if_names)} {what} (one per IF layer), got {len(values)}"
            )
        return values

    def set_percentiles(self, percentiles: Sequence[float] | float) -> None:
        """Set each IF layer's threshold to a percentile of its ANN activations."""
        self.set_thresholds(self.percentile_thresholds(percentiles))
        self.percentiles = self._per_layer(percentiles, "percentiles")

    @property
    def phi(self) -> list[float]:
        """Each IF layer's initial membrane potential as a fraction of its threshold."""
        return [float(self.layer(n).phi) for n in self.if_names]

    def per_sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The thresholds and φ as the engine takes them, one row per sample: two float32
        ``[batch, IF layers]`` tensors on the SNN's device (rows that are views of one)."""
        layers = [self.layer(n) for n in self.if_names]  # tensors: torch.compile traces them
        theta = torch.stack([m.thresh.reshape(()) for m in layers]).to(self.device, torch.float32)
        phi = torch.stack([m.phi.reshape(()) for m in layers]).to(self.device, torch.float32)
        return theta.expand(batch, -1), phi.expand(batch, -1)

    def set_phi(self, values: Sequence[float] | float) -> None:
        """Start each IF layer's potential at ``φ·θ`` (φ in [0, 1); 0.5 is the half-threshold
        shift of Bu et al., ICLR 2022); one value or one per IF layer."""
        values = self._per_layer(values, "values of phi")
        for name, v in zip(self.if_names, values, strict=True):
            check_phi(v, f"phi of layer {name}")
        for name, v in zip(self.if_names, values, strict=True):
            self.layer(name).phi.fill_(v)

    @property
    def offsets(self) -> dict[str, torch.Tensor]:
        """Each IF layer's per-neuron initial potential added to ``φ·θ`` (ANN units, the
        layer's shape; zero unless a potential calibration set it)."""
        return {n: self.layer(n).offset.detach().clone() for n in self.if_names}

    def set_offsets(self, values: dict[str, torch.Tensor]) -> None:
        """Set the named IF layers' per-neuron initial potentials (each of the layer's shape,
        or one value for all its neurons)."""
        for name, value in values.items():
            if name not in self.if_names:
                raise UserError(f"offsets: {name!r} is not an IF layer; IF layers: {self.if_names}")
            offset = self.layer(name).offset
            value = torch.as_tensor(value, dtype=torch.float32, device=offset.device)
            if value.dim() > 0 and tuple(value.shape) != tuple(offset.shape):
                raise UserError(
                    f"offsets: layer {name} has shape {tuple(offset.shape)}, got "
                    f"{tuple(value.shape)}"
                )
            if not bool(torch.isfinite(value).all()):
                raise UserError(f"offsets: layer {name} has a value that is not finite")
            offset.copy_(value.expand_as(offset))

    @property
    def offset_layers(self) -> list[str]:
        """The IF layers with a non-zero initial potential offset, sorted by name."""
        return sorted(n for n in self.if_names if bool(self.layer(n).offset.any()))

    def __call__(self, *args, **kwargs):
        raise TypeError(
            "a ConvertedSNN is not called itself: net = neurosnn.SNNModule(snn) is its torch "
            "module (net(x) one step, net.run(x, T) T steps); simulate(snn, batches, T) runs "
            "data sets"
        )

    @deprecated("neurosnn.SNNModule(snn, delay, bias_onset, presim)")
    def as_module(self, delay: str = "layer", bias_onset: str = "always", presim: int = 0):
        """This SNN as a ``torch.nn.Module``: ``neurosnn.SNNModule(snn, …)``, which replaces this
        method (the SNN value does not import its simulator)."""
        from neurosnn.simulation.module import SNNModule

        return SNNModule(self, delay, bias_onset, presim)

    def to(self, device: torch.device | str) -> ConvertedSNN:
        self.network.to(device)
        for layer in self.network.layers.values():
            layer.set_batch_size(self.network.batch_size)
        return self


def ann_ops(ops: nn.Sequential) -> nn.Sequential:
    """A connection's operators with ANN semantics (spike max pooling as max pooling); shares
    the other modules."""
    return nn.Sequential(
        *[
            nn.MaxPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
            if isinstance(m, SpikeMaxPool2d)
            else m
            for m in ops
        ]
    )


def require_snn(snn: object, call: str) -> None:
    """Raise ``TypeError`` naming ``call`` (its signature, e.g. ``"save_snn(path, snn)"``)
    where ``snn`` is not a ``ConvertedSNN``, with the likely slip: a path (arguments swapped)
    or a tuple (``load_snn`` and ``read_nir`` return ``(snn, metadata)``)."""
    if isinstance(snn, ConvertedSNN):
        return
    hint = ""
    if isinstance(snn, str | os.PathLike):
        hint = " (the arguments swapped?)"
    elif isinstance(snn, tuple):
        hint = " (load_snn and read_nir return (snn, metadata))"
    raise TypeError(f"{call}: snn must be a ConvertedSNN, got {type(snn).__name__}{hint}")
