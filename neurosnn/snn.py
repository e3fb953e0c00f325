"""The converted SNN: a BindsNET ``Network`` plus the metadata neurosnn needs.

Layer names are the ANN's module paths (``features.3``), thresholds are one per IF layer and
can be set as values or as percentiles of the layer's calibrated ANN activations, in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input, Nodes
from bindsnet.network.topology import AbstractConnection

from neurosnn.neurons import AccumulatorNodes, SubtractiveIFNodes
from neurosnn.synapses import OpsConnection

INPUT = "input"


class SNNNetwork(Network):
    """BindsNET ``Network`` that accepts dotted layer names (``features.0``).

    ``torch.nn.Module.add_module`` forbids dots, so the submodule is registered under a
    sanitised name while ``layers``/``connections`` keep the real one.
    """

    @staticmethod
    def _module_name(name: str) -> str:
        return name.replace(".", "_")

    def add_layer(self, layer: Nodes, name: str) -> None:
        self.layers[name] = layer
        self.add_module(self._module_name(name), layer)
        layer.train(self.learning)
        layer.compute_decays(self.dt)
        layer.set_batch_size(self.batch_size)

    def add_connection(self, connection: AbstractConnection, source: str, target: str) -> None:
        self.connections[(source, target)] = connection
        self.add_module(self._module_name(f"{source}_to_{target}"), connection)
        connection.dt = self.dt
        connection.train(self.learning)


@dataclass
class ActivationHistogram:
    """Streamed histogram of a layer's positive ANN activations on calibration data.

    Percentiles are taken over the positive activations, as in Rueckauer et al.'s robust
    normalisation (and SNN-toolbox), interpolated linearly inside a bin of width max/bins.
    """

    counts: torch.Tensor  # [bins] float64
    max: float

    def percentile(self, p: float) -> float:
        if not 0 < p <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {p}")
        total = float(self.counts.sum())
        if total == 0 or self.max <= 0:
            raise ValueError("layer never activated on the calibration data")
        cdf = torch.cumsum(self.counts, 0) / total
        target = p / 100.0
        i = int(torch.searchsorted(cdf, torch.tensor(target, dtype=cdf.dtype)))
        i = min(i, len(cdf) - 1)
        below = float(cdf[i - 1]) if i > 0 else 0.0
        inside = float(cdf[i]) - below
        frac = 1.0 if inside <= 0 else min(max((target - below) / inside, 0.0), 1.0)
        width = self.max / len(self.counts)
        return (i + frac) * width


@dataclass
class ConvertedSNN:
    """A converted SNN: the BindsNET network, its layer order and calibration.

    Attributes:
        network: the BindsNET network (layer ``"input"``, IF layers, the output accumulator).
        layer_names: non-input layers in forward order; the last one is the output.
        input_shape: shape of one input sample, ``(C, H, W)``.
        calibration: per IF layer, the histogram of its ANN activations.
        percentiles: percentiles the thresholds were set from, or None if set as values.
    """

    network: SNNNetwork
    layer_names: list[str]
    input_shape: tuple[int, ...]
    calibration: dict[str, ActivationHistogram]
    percentiles: list[float] | None = None

    @property
    def if_names(self) -> list[str]:
        return self.layer_names[:-1]

    @property
    def output_name(self) -> str:
        return self.layer_names[-1]

    @property
    def device(self) -> torch.device:
        return self.network.layers[self.output_name].v.device

    def layer(self, name: str) -> Nodes:
        return self.network.layers[name]

    def connection(self, target: str) -> OpsConnection:
        """The connection into layer ``target``."""
        index = self.layer_names.index(target)
        source = INPUT if index == 0 else self.layer_names[index - 1]
        return self.network.connections[(source, target)]

    @property
    def thresholds(self) -> list[float]:
        return [float(self.layer(n).thresh) for n in self.if_names]

    def set_thresholds(self, values: Sequence[float]) -> None:
        """Set one threshold per IF layer, in ANN activation units; nothing is rebuilt."""
        values = [float(v) for v in values]
        if len(values) != len(self.if_names):
            raise ValueError(
                f"expected {len(self.if_names)} thresholds (one per IF layer: "
                f"{', '.join(self.if_names)}), got {len(values)}"
            )
        for name, v in zip(self.if_names, values, strict=True):
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"threshold of layer {name} must be finite and > 0, got {v}")
        for name, v in zip(self.if_names, values, strict=True):
            self.layer(name).thresh.fill_(v)
        self.percentiles = None

    def set_percentiles(self, percentiles: Sequence[float] | float) -> None:
        """Set each IF layer's threshold to a percentile of its ANN activations."""
        if isinstance(percentiles, int | float):
            percentiles = [float(percentiles)] * len(self.if_names)
        percentiles = [float(p) for p in percentiles]
        if len(percentiles) != len(self.if_names):
            raise ValueError(
                f"expected {len(self.if_names)} percentiles (one per IF layer), "
                f"got {len(percentiles)}"
            )
        for name, p in zip(self.if_names, percentiles, strict=True):
            if not (math.isfinite(p) and 0 < p <= 100):
                raise ValueError(f"percentile of layer {name} must be in (0, 100], got {p}")
        values = [
            self.calibration[n].percentile(p)
            for n, p in zip(self.if_names, percentiles, strict=True)
        ]
        self.set_thresholds(values)
        self.percentiles = percentiles

    def to(self, device: torch.device | str) -> ConvertedSNN:
        self.network.to(device)
        for layer in self.network.layers.values():
            layer.set_batch_size(self.network.batch_size)
        return self


def build_network(
    input_shape: tuple[int, ...],
    segments: list[tuple[str, torch.nn.Sequential, tuple[int, ...]]],
) -> tuple[SNNNetwork, list[str]]:
    """BindsNET network from ``(name, ops, output_shape)`` segments; the last is the output."""
    net = SNNNetwork(dt=1.0, batch_size=1, learning=False)
    net.add_layer(Input(shape=list(input_shape)), name=INPUT)
    source = INPUT
    names = []
    for i, (name, ops, shape) in enumerate(segments):
        last = i == len(segments) - 1
        nodes = AccumulatorNodes(shape) if last else SubtractiveIFNodes(shape)
        net.add_layer(nodes, name=name)
        net.add_connection(OpsConnection(net.layers[source], nodes, ops), source, name)
        source = name
        names.append(name)
    return net, names
