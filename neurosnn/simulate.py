"""Run a converted SNN for T steps over a dataset and return a :class:`SimResult`.

Two engines over the same BindsNET network:

* ``reference``: bindsnet's ``Network.run`` with monitors (the library's own scheduler);
* ``fast`` (default): a plain loop over the network's own connections and neuron step
  functions, with no monitors, no per-step allocation of zero tensors and the constant input
  current computed once. It reproduces ``reference`` spike for spike.

Timing (``delay``): ``"layer"`` (default) is bindsnet's synchronous mode, where each layer sees
the previous step's spikes of the layer below (one step of latency per layer, the latency Lu &
Sengupta count); ``"none"`` propagates through all layers within one step (``one_step=True``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from bindsnet.network.monitors import Monitor
from tqdm.auto import tqdm

from neurosnn.encoding import Encoding, encode
from neurosnn.neurons import IFState, accumulate_step, if_step
from neurosnn.snn import INPUT, ConvertedSNN
from neurosnn.synapses import SpikeMaxPool2d

Engine = Literal["fast", "reference"]
Delay = Literal["layer", "none"]
# (layer, first image index, packed spikes [T, b, ceil(n/8)] uint8, layer shape)
SpikeSink = Callable[[str, int, torch.Tensor, tuple[int, ...]], None]
_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


@dataclass
class SimResult:
    """What one simulation produced, keyed by layer name.

    Attributes:
        layer_names: spiking layers then the output layer, in forward order.
        layer_shapes: shape of each layer (one sample).
        thresholds: threshold of each spiking layer.
        timesteps: T.
        correct: ``[T]`` number of images whose prediction at step t is right (an output layer
            that has received no input yet counts as no answer).
        spike_counts: per spiking layer, ``[T]`` spikes at step t summed over images and neurons.
        predictions: ``[N]`` prediction at the final step.
        labels: ``[N]``.
        wall_seconds: time spent simulating.
    """

    layer_names: list[str]
    layer_shapes: dict[str, tuple[int, ...]]
    thresholds: dict[str, float]
    timesteps: int
    correct: torch.Tensor
    spike_counts: dict[str, torch.Tensor]
    predictions: torch.Tensor
    labels: torch.Tensor
    config: dict = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def n_images(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> torch.Tensor:
        """``[T]`` accuracy at each timestep (the accuracy-vs-time curve)."""
        return self.correct.double() / max(self.n_images, 1)

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per timestep of each spiking layer."""
        rates = {}
        for name, counts in self.spike_counts.items():
            neurons = int(torch.tensor(self.layer_shapes[name]).prod())
            rates[name] = float(counts.sum()) / (neurons * self.timesteps * max(self.n_images, 1))
        return rates


def pack_spikes(s: torch.Tensor) -> torch.Tensor:
    """``[..., n]`` bool → ``[..., ceil(n/8)]`` uint8, first neuron in the highest bit
    (``numpy.packbits`` order), computed on the spikes' device."""
    n = s.shape[-1]
    pad = (-n) % 8
    if pad:
        s = torch.nn.functional.pad(s.to(torch.uint8), (0, pad))
    bits = s.to(torch.uint8).reshape(*s.shape[:-1], -1, 8)
    return (bits * _BIT_WEIGHTS.to(s.device)).sum(-1, dtype=torch.uint8)


def count_spikes(s: torch.Tensor) -> torch.Tensor:
    """Number of spikes in ``s`` (0/1 values) as an int64 scalar tensor, exactly.

    A float32 sum of 0/1 values is exact below 2**24 elements and ~10x faster than an int64
    sum (which casts the whole tensor first); larger tensors are summed in float64.
    """
    dtype = torch.float32 if s.numel() < 2**24 else torch.float64
    return s.sum(dtype=dtype).to(torch.int64)


class _Tally:
    """Per-batch accumulation shared by both engines."""

    def __init__(self, snn: ConvertedSNN, timesteps: int) -> None:
        dev = snn.device
        self.correct = torch.zeros(timesteps, dtype=torch.int64, device=dev)
        self.counts = {
            n: torch.zeros(timesteps, dtype=torch.int64, device=dev) for n in snn.if_names
        }
        self.predictions: list[torch.Tensor] = []

    def step(
        self,
        t: int,
        spikes: dict[str, torch.Tensor],
        out_v: torch.Tensor,
        labels: torch.Tensor,
        packed: dict[str, torch.Tensor],
        n_rec: int,
    ) -> None:
        for name, s in spikes.items():
            self.counts[name][t] += count_spikes(s)
            if name in packed:
                packed[name][t] = pack_spikes(s[:n_rec].flatten(1).bool())
        # an output that has received nothing yet has not answered: it is not counted correct
        answered = out_v.ne(0).any(1)
        self.correct[t] += ((out_v.argmax(1) == labels) & answered).sum()


def _run_fast(
    snn: ConvertedSNN,
    x: torch.Tensor,
    labels: torch.Tensor,
    timesteps: int,
    delay: Delay,
    encoding: Encoding,
    gen: torch.Generator | None,
    tally: _Tally,
    packed: dict[str, torch.Tensor],
    n_rec: int,
) -> torch.Tensor:
    names = snn.layer_names
    conns = [snn.connection(n) for n in names]
    thresholds = [snn.layer(n).thresh for n in snn.if_names]
    batch = x.shape[0]
    for c in conns:
        c.reset_state_variables()
    v = [torch.zeros(batch, *snn.layer(n).shape, device=x.device) for n in names]
    s = [torch.zeros_like(vi) for vi in v[:-1]]  # float spikes: no bool round trip per step
    inputs = None if encoding == "current" else encode(x, timesteps, encoding, gen)
    # a constant input current is computed once, unless the first operator keeps state
    constant = encoding == "current" and not any(
        isinstance(m, SpikeMaxPool2d) for m in conns[0].ops
    )
    first_current = conns[0].compute(x) if constant else None
    input_prev = torch.zeros_like(x)  # the input layer's spikes before step 0
    for t in range(timesteps):
        x_t = x if encoding == "current" else inputs[t]
        # what the first connection reads: last step's input (bindsnet's synchronous run) or this
        # step's
        source = input_prev if delay == "layer" else x_t
        first = first_current if constant and source is x else conns[0].compute(source)
        if delay == "layer":
            # every connection reads the spikes of the previous step, before any layer updates
            currents = [first] + [conns[i].compute(s[i - 1]) for i in range(1, len(names))]
        for i in range(len(names)):
            if delay == "layer":
                cur = currents[i]
            else:
                cur = first if i == 0 else conns[i].compute(s[i - 1])
            if i < len(names) - 1:
                spk, state = if_step(cur, IFState(v[i]), thresholds[i])
                v[i], s[i] = state.v, spk
            else:
                v[i] = accumulate_step(cur, v[i])
        input_prev = x_t
        tally.step(t, dict(zip(snn.if_names, s, strict=True)), v[-1], labels, packed, n_rec)
    return v[-1].argmax(1)


def _run_reference(
    snn: ConvertedSNN,
    x: torch.Tensor,
    labels: torch.Tensor,
    timesteps: int,
    delay: Delay,
    encoding: Encoding,
    gen: torch.Generator | None,
    tally: _Tally,
    packed: dict[str, torch.Tensor],
    n_rec: int,
) -> torch.Tensor:
    net = snn.network
    monitors = {n: Monitor(snn.layer(n), ["s"]) for n in snn.if_names}
    monitors[snn.output_name] = Monitor(snn.layer(snn.output_name), ["v"])
    for name, m in monitors.items():
        net.add_monitor(m, name)
    try:
        net.reset_state_variables()
        # bindsnet zeroes the input layer's tensor in place on reset: give it its own copy
        inputs = encode(x, timesteps, encoding, gen)
        net.run(inputs={INPUT: inputs}, time=timesteps, one_step=(delay == "none"))
        spikes = {n: monitors[n].get("s").to(x.device) for n in snn.if_names}  # [T, B, ...]
        out_v = monitors[snn.output_name].get("v").to(x.device)  # [T, B, classes]
    finally:
        for name in monitors:
            net.monitors.pop(name)
    for t in range(timesteps):
        tally.step(t, {n: s[t] for n, s in spikes.items()}, out_v[t], labels, packed, n_rec)
    return out_v[-1].argmax(1)


@torch.no_grad()
def simulate(
    snn: ConvertedSNN,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    timesteps: int,
    *,
    engine: Engine = "fast",
    delay: Delay = "layer",
    encoding: Encoding = "current",
    seed: int = 0,
    record_spikes: int = 0,
    record_layers: Sequence[str] | None = None,
    spike_sink: SpikeSink | None = None,
    progress: bool = False,
) -> SimResult:
    """Simulate the SNN on every batch and tally the accuracy curve and spike counts.

    Args:
        snn: the converted network (its device is used).
        batches: ``(images [B, C, H, W] normalised, labels [B])`` pairs; any batch sizes.
        timesteps: T.
        engine: ``"fast"`` or ``"reference"`` (bindsnet ``Network.run``).
        delay: ``"layer"`` (one step per layer) or ``"none"``.
        encoding: ``"current"``, ``"bernoulli"`` or ``"poisson"``.
        seed: seed of the stochastic encodings (each batch draws from one generator).
        record_spikes: spike trains of the first this-many images go to ``spike_sink``.
        record_layers: which spiking layers to record (default: all).
        spike_sink: receives ``(layer, first_image, packed [T, b, bytes], layer_shape)``.
        progress: show a progress bar over batches.

    Returns:
        The :class:`SimResult`.
    """
    if engine not in ("fast", "reference"):
        raise ValueError(f"engine must be 'fast' or 'reference', got {engine!r}")
    if delay not in ("layer", "none"):
        raise ValueError(f"delay must be 'layer' or 'none', got {delay!r}")
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    if record_spikes and spike_sink is None:
        raise ValueError("record_spikes needs a spike_sink to write to")
    record = list(snn.if_names if record_layers is None else record_layers)
    unknown = [n for n in record if n not in snn.if_names]
    if unknown:
        raise ValueError(f"unknown layers to record: {unknown}; spiking layers: {snn.if_names}")
    run = _run_fast if engine == "fast" else _run_reference
    tally = _Tally(snn, timesteps)
    gen = torch.Generator(device=snn.device).manual_seed(seed)
    labels_all, seen = [], 0
    start = time.perf_counter()
    for x, y in tqdm(
        batches,
        desc=f"simulate T={timesteps}",
        disable=None if progress else True,  # None: off when not a terminal
        unit="batch",
        leave=False,
    ):
        if tuple(x.shape[1:]) != snn.input_shape:
            raise ValueError(
                f"input batch has sample shape {tuple(x.shape[1:])}, "
                f"the network expects {snn.input_shape}"
            )
        x, y = x.to(snn.device, torch.float32), y.to(snn.device)
        n_rec = max(0, min(record_spikes - seen, len(y)))
        packed = (
            {
                n: torch.empty(
                    timesteps, n_rec, -(-snn.layer(n).n // 8), dtype=torch.uint8, device=snn.device
                )
                for n in record
            }
            if n_rec
            else {}
        )
        tally.predictions.append(
            run(snn, x, y, timesteps, delay, encoding, gen, tally, packed, n_rec).cpu()
        )
        for name, bits in packed.items():
            spike_sink(name, seen, bits.cpu(), tuple(snn.layer(name).shape))
        labels_all.append(y.cpu())
        seen += len(y)
    if seen == 0:
        raise ValueError("no data to simulate")
    wall = time.perf_counter() - start
    return SimResult(
        layer_names=list(snn.layer_names),
        layer_shapes={n: tuple(snn.layer(n).shape) for n in snn.layer_names},
        thresholds=dict(zip(snn.if_names, snn.thresholds, strict=True)),
        timesteps=timesteps,
        correct=tally.correct.cpu(),
        spike_counts={n: c.cpu() for n, c in tally.counts.items()},
        predictions=torch.cat(tally.predictions),
        labels=torch.cat(labels_all),
        config={"engine": engine, "delay": delay, "encoding": encoding, "seed": seed},
        wall_seconds=wall,
    )
