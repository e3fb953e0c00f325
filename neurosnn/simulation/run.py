"""Run a converted SNN for T steps over a dataset and return a ``SimResult``.

Two engines over the same BindsNET network:

* ``reference``: bindsnet's ``Network.run`` with monitors (the library's own scheduler);
* ``fast`` (default): the layer-major engine of ``neurosnn.simulation.engine`` (one convolution per
  layer for a block of timesteps, a fused IF scan, the constant input current computed once,
  no monitors). It reproduces ``reference`` spike for spike.

``simulate_groups`` runs images of several threshold candidates in shared batches, each
image with its candidate's thresholds (the threshold search's vectorised evaluation).

Timing (``delay``): ``"layer"`` (default) is bindsnet's synchronous mode, where each layer sees
the previous step's spikes of the layer below (one step of latency per layer, the latency Lu &
Sengupta count); ``"none"`` propagates through all layers within one step (``one_step=True``).
In a graph every connection takes one step under ``"layer"``, so a shortcut delivers before the
main path it joins, as in BindsNET. ``bias_onset="input"`` withholds each layer's current until
its input can first arrive (with the layer delay: the step after the shortest path from the
input), so a layer does not integrate its bias alone while the spikes are still on their way;
for a chain the run is then the ``delay="none"`` run shifted by one step per layer, exactly.
``"always"`` is bindsnet's own schedule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from bindsnet.network.monitors import Monitor
from tqdm.auto import tqdm

from neurosnn.errors import UserError
from neurosnn.simulation.encoding import encode
from neurosnn.simulation.engine.fast import Block, check_timing, onsets, run_blocks
from neurosnn.simulation.options import (
    BiasOnset,
    Delay,
    Encoding,
    Precision,
    check_presim,
    check_timesteps,
)
from neurosnn.simulation.srp import silenced as srp_silenced
from neurosnn.snn.macs import layer_inputs
from neurosnn.snn.network import INPUT, ConvertedSNN, require_snn

Engine = Literal["fast", "reference"]
# (layer, first image index, packed spikes [T, b, ceil(n/8)] uint8, layer shape)
SpikeSink = Callable[[str, int, torch.Tensor, tuple[int, ...]], None]
_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)

log = logging.getLogger(__name__)


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
        input_shape: shape of one input sample.
        inputs: per layer, ``(source, dense MACs per image)`` of each connection into it (for
            ``neurosnn.measures.energy.energy_of``).
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
    input_shape: tuple[int, ...] = ()
    inputs: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

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
    (``numpy.packbits`` order), on the spikes' device (numpy's own packer on CPU)."""
    if s.device.type == "cpu":
        return torch.from_numpy(np.packbits(s.numpy(), axis=-1))
    return pack_spikes_torch(s)


def pack_spikes_torch(s: torch.Tensor) -> torch.Tensor:
    """``pack_spikes`` in torch operations, for any device."""
    n = s.shape[-1]
    bits = torch.nn.functional.pad(s.to(torch.uint8), (0, (-n) % 8))
    bits = bits.reshape(*s.shape[:-1], -1, 8)
    return (bits * _BIT_WEIGHTS.to(s.device)).sum(-1, dtype=torch.uint8)


class _Tally:
    """Accumulates blocks into per-group curves: ``correct [G, T]`` (read from step 1, or after
    ``readouts[0]`` steps), ``by_readout [K, G, T]`` (read after each of the K ``readouts``)
    and ``counts {layer: [G, T]}``."""

    def __init__(
        self,
        names: list[str],
        timesteps: int,
        groups: int,
        device,
        readouts: Sequence[int] = (0,),
    ) -> None:
        self.groups, self.readouts = groups, [int(k) for k in readouts]
        self._base: dict[int, torch.Tensor] = {}  # the output potential at step k, per k
        self.by_readout = torch.zeros(
            len(self.readouts), groups, timesteps, dtype=torch.int64, device=device
        )
        self.counts = {
            n: torch.zeros(groups, timesteps, dtype=torch.int64, device=device) for n in names
        }

    @property
    def correct(self) -> torch.Tensor:
        return self.by_readout[0]

    def _by_group(self, values: torch.Tensor, group: torch.Tensor | None) -> torch.Tensor:
        """``[τ, B]`` → ``[G, τ]`` sums over the samples of each group."""
        if group is None:
            return values.sum(1, dtype=torch.int64).unsqueeze(0)
        out = torch.zeros(self.groups, values.shape[0], dtype=torch.int64, device=values.device)
        return out.index_add_(0, group, values.T.to(torch.int64))

    def readout(self, block: Block, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(output [τ, B, classes], read [τ])``: the output potential less its value at step
        ``k`` (a delayed readout ignores the first k steps), and whether each step of the
        block is past them (None: every step, no delay). Blocks of one batch come in time
        order, and every k is read from each block (``add``) before the next comes."""
        out = block.output
        if k == 0:
            return out, None
        first = torch.arange(block.start, block.start + len(out), device=out.device)
        if block.start == 0:
            self._base.pop(k, None)
        if block.start < k <= block.start + len(out):
            self._base[k] = out[k - 1 - block.start].clone()
        read = first >= k  # index i is step i + 1
        base = self._base.get(k)
        return (out if base is None else out - base), read

    def add(self, block: Block, labels: torch.Tensor, group: torch.Tensor | None) -> None:
        steps = slice(block.start, block.start + len(block.output))
        for i, k in enumerate(self.readouts):
            output, read = self.readout(block, k)
            # an output that has received nothing yet has not answered: not counted correct
            answered = output.ne(0).any(-1)
            if read is not None:
                answered &= read.unsqueeze(1)
            right = (output.argmax(-1) == labels) & answered  # [τ, B]
            if i == 0:
                self.last = output[-1]  # the readout after the block's last step
            self.by_readout[i, :, steps] += self._by_group(right, group)
        for name, counts in block.counts.items():
            self.counts[name][:, steps] += self._by_group(counts, group)


def _reference_block(
    snn: ConvertedSNN,
    x: torch.Tensor,
    timesteps: int,
    delay: Delay,
    bias_onset: BiasOnset,
    encoding: Encoding,
    gen: torch.Generator | None,
    presim: int = 0,
) -> Block:
    """bindsnet's ``Network.run`` with monitors, as one block of all T steps (the SNN's nodes
    start from ``φ·θ``; the connections withhold their current for the onset's steps). With
    SRP's ``presim`` τ: a run of τ steps whose output is not read, then, from a reset network
    whose silenced neurons start at −∞, a run of the other T − τ steps."""
    net = snn.network
    monitors = {n: Monitor(snn.layer(n), ["s"]) for n in snn.if_names}
    monitors[snn.output_name] = Monitor(snn.layer(snn.output_name), ["v"])
    for name, m in monitors.items():
        net.add_monitor(m, name)
    conns = snn.network.connections
    withheld = onsets(snn, delay, bias_onset)
    for key, conn in conns.items():
        conn.onset = withheld[key[1]]
    spikes: dict[str, list[torch.Tensor]] = {n: [] for n in snn.if_names}
    outputs: list[torch.Tensor] = []
    try:
        # bindsnet zeroes the input layer's tensor in place on reset: give it its own copy
        inputs = encode(x, timesteps, encoding, gen)
        phases = [(0, presim), (presim, timesteps)] if presim else [(0, timesteps)]
        silenced: dict[str, torch.Tensor] = {}
        for first, last in phases:
            net.reset_state_variables()
            for name, mask in silenced.items():
                node = snn.layer(name)
                node.v = node.v.masked_fill(mask.view_as(node.v), float("-inf"))
            net.run(
                inputs={INPUT: inputs[first:last]},
                time=last - first,
                one_step=(delay == "none"),
            )
            for n in snn.if_names:  # [steps, B, ...]
                spikes[n].append(monitors[n].get("s").to(x.device))
            out_v = monitors[snn.output_name].get("v").to(x.device)  # [steps, B, classes]
            if last == presim:  # SRP's first phase: not read; who it silences
                out_v = torch.zeros_like(out_v)
                silenced = {
                    n: srp_silenced(snn.layer(n).v.flatten(1), snn.layer(n).thresh.expand(len(x)))
                    for n in snn.if_names
                }
            outputs.append(out_v)
    finally:
        for name in monitors:
            net.monitors.pop(name)
        for conn in conns.values():
            conn.onset = 0
    joined = {n: torch.cat(s) for n, s in spikes.items()}
    counts = {n: s.flatten(2).sum(-1) for n, s in joined.items()}
    return Block(0, joined, counts, torch.cat(outputs))


def _check(
    call: str, snn: ConvertedSNN, timesteps: int, delay: str, bias_onset: str, time_block
) -> None:
    require_snn(snn, call)
    check_timing(delay, bias_onset)
    check_timesteps(timesteps)
    if time_block is not None and time_block < 1:
        raise ValueError(f"time_block must be >= 1 (or None for automatic), got {time_block}")


def _checked_batch(snn: ConvertedSNN, x: torch.Tensor, y: torch.Tensor):
    """A batch on the SNN's device, once its images have the network's shape and finite
    values and its labels are classes of its output (``UserError`` naming what is wrong)."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if tuple(x.shape[1:]) != snn.input_shape:
        raise UserError(
            f"input batch has sample shape {tuple(x.shape[1:])}, "
            f"the network expects {snn.input_shape}"
        )
    if x.is_complex() or not bool(torch.isfinite(x).all()):
        raise UserError("input batch holds values that are not finite real numbers")
    classes = int(np.prod(snn.layer(snn.layer_names[-1]).shape))
    if y.shape != x.shape[:1] or y.is_floating_point() or y.is_complex():
        raise UserError(
            f"labels must be one whole number per image, got {tuple(y.shape)} {y.dtype}"
        )
    if len(y) and not 0 <= int(y.min()) <= int(y.max()) < classes:
        raise UserError(
            f"labels must be classes in [0, {classes}), got {int(y.min())} to {int(y.max())}"
        )
    return x.to(snn.device, torch.float32), y.to(snn.device)


def _progress(batches, timesteps: int, progress: bool):
    bar = tqdm(
        batches,
        desc=f"simulate T={timesteps}",
        disable=None if progress else True,  # None: off when not a terminal
        unit="batch",
        leave=False,
    )
    return _plain_lines(bar, timesteps) if progress and bar.disable else bar


def _plain_lines(batches, timesteps: int, every: float = 10.0):
    """Where progress is asked for but no bar shows (output to a file): a log line at most
    every ``every`` seconds with the images simulated so far."""
    start = last = time.perf_counter()
    images = 0
    for item in batches:
        yield item
        images += len(item[0])
        now = time.perf_counter()
        if now - last >= every:
            log.info("simulated %d images for T=%d (%.0f s)", images, timesteps, now - start)
            last = now


@torch.no_grad()
def simulate(
    snn: ConvertedSNN,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    timesteps: int,
    *,
    engine: Engine = "fast",
    delay: Delay = "layer",
    bias_onset: BiasOnset = "always",
    encoding: Encoding = "current",
    seed: int = 0,
    time_block: int | None = None,
    precision: Precision = "fp32",
    record_spikes: int = 0,
    record_layers: Sequence[str] | None = None,
    spike_sink: SpikeSink | None = None,
    progress: bool = False,
    readout_after: int = 0,
    presim: int = 0,
) -> SimResult:
    """Simulate the SNN on every batch and tally the accuracy curve and spike counts.

    Args:
        snn: the converted network (its device and thresholds are used).
        batches: ``(images [B, C, H, W] normalised, labels [B])`` pairs; any batch sizes.
        timesteps: T.
        engine: ``"fast"`` (layer-major, ``neurosnn.simulation.engine``) or ``"reference"``
            (bindsnet ``Network.run``).
        delay: ``"layer"`` (one step per layer) or ``"none"``.
        bias_onset: ``"always"`` (bindsnet's schedule) or ``"input"`` (each layer's current
            withheld until its input can first arrive; only changes ``delay="layer"`` runs).
        encoding: ``"current"``, ``"bernoulli"`` or ``"poisson"``.
        seed: seed of the stochastic encodings (each batch draws from one generator).
        time_block: the fast engine's τ (timesteps per layer-major block); default: the
            largest that fits the device's memory budget. 1 is a plain step loop.
        precision: the fast engine's connections in ``"fp32"`` (bindsnet's spikes exactly)
            or ``"bf16"`` (membranes stay float32; see ``neurosnn.simulation.engine``).
        record_spikes: spike trains of the first this-many images go to ``spike_sink``.
        record_layers: which spiking layers to record (default: all).
        spike_sink: receives ``(layer, first_image, packed [T, b, bytes], layer_shape)``.
        progress: show a progress bar over batches.
        readout_after: delayed evaluation: the prediction at step t > k is the argmax of the
            output potential gained after step k (``V(t) − V(k)``), and no step up to k
            answers, so the accuracy curve counts the k steps (the delayed evaluation of
            Bu, Li & Yu, CVPR 2025). Default 0: read from step 1.
        presim: SRP's τ (Hao et al., AAAI 2023; ``neurosnn.simulation.srp``): τ pre-simulation
            steps, then a fresh run of the other T − τ steps with the neurons whose potential ended
            at or below zero silenced. The τ steps count: no step up to τ answers, and the
            spikes of both phases are counted. Default 0: no pre-simulation.

    Returns:
        The ``SimResult``.
    """
    if engine not in ("fast", "reference"):
        raise ValueError(f"engine must be 'fast' or 'reference', got {engine!r}")
    if engine == "reference" and precision != "fp32":
        raise ValueError(f"precision {precision!r} needs engine='fast' (bindsnet runs fp32)")
    _check("simulate(snn, batches, timesteps)", snn, timesteps, delay, bias_onset, time_block)
    if int(readout_after) != readout_after or not 0 <= readout_after < timesteps:
        raise UserError(
            f"readout_after must be an integer in [0, T) = [0, {timesteps}), got {readout_after}"
        )
    check_presim(presim, timesteps)
    if presim and min(snn.phi) == 0:
        log.warning(
            "SRP with an initial potential of 0 (phi): a neuron whose input came to whole "
            "spikes ends the pre-simulation at 0 and is silenced; its authors start at θ/2 "
            "(phi 0.5)"
        )
    if record_spikes and spike_sink is None:
        raise ValueError("record_spikes needs a spike_sink to write to")
    record = list(snn.if_names if record_layers is None else record_layers)
    unknown = [n for n in record if n not in snn.if_names]
    if unknown:
        raise ValueError(f"unknown layers to record: {unknown}; spiking layers: {snn.if_names}")
    tally = _Tally(snn.if_names, timesteps, 1, snn.device, [int(readout_after)])
    gen = torch.Generator(device=snn.device).manual_seed(seed)
    theta, phi = snn.per_sample(1)  # read once, each batch its view
    predictions, labels_all, seen = [], [], 0
    start = time.perf_counter()
    for x, y in _progress(batches, timesteps, progress):
        x, y = _checked_batch(snn, x, y)
        if not len(y):
            continue  # an empty batch adds nothing
        if engine == "fast":
            blocks = run_blocks(
                snn,
                x,
                timesteps,
                theta.expand(len(y), -1),
                phi=phi.expand(len(y), -1),
                delay=delay,
                bias_onset=bias_onset,
                encoding=encoding,
                generator=gen,
                time_block=time_block,
                precision=precision,
                presim=presim,
                keep_spikes=record_spikes > seen,
            )
        else:
            blocks = [_reference_block(snn, x, timesteps, delay, bias_onset, encoding, gen, presim)]
        n_rec = max(0, min(record_spikes - seen, len(y)))
        packed = {n: [] for n in record} if n_rec else {}
        for block in blocks:
            tally.add(block, y, None)
            for name, parts in packed.items():
                parts.append(pack_spikes(block.spikes[name][:, :n_rec].flatten(2).ne(0)))
        predictions.append(tally.last.argmax(1).cpu())
        for name, parts in packed.items():
            spike_sink(name, seen, torch.cat(parts).cpu(), tuple(snn.layer(name).shape))
        labels_all.append(y.cpu())
        seen += len(y)
    if seen == 0:
        raise UserError("no images to simulate: the batches were empty")
    wall = time.perf_counter() - start
    return SimResult(
        layer_names=list(snn.layer_names),
        layer_shapes={n: tuple(snn.layer(n).shape) for n in snn.layer_names},
        thresholds=dict(zip(snn.if_names, snn.thresholds, strict=True)),
        timesteps=timesteps,
        correct=tally.correct[0].cpu(),
        spike_counts={n: c[0].cpu() for n, c in tally.counts.items()},
        predictions=torch.cat(predictions),
        labels=torch.cat(labels_all),
        config={
            "engine": engine,
            "delay": delay,
            "bias_onset": bias_onset,
            "encoding": encoding,
            "seed": seed,
            "readout_after": int(readout_after),
            "presim": int(presim),
            "phi": snn.phi,
            "percentile_of": snn.percentile_of,
            "channelwise": sorted(snn.channel_scales),
            "offsets": snn.offset_layers,
        },
        wall_seconds=wall,
        input_shape=tuple(snn.input_shape),
        inputs=layer_inputs(snn),
    )


@dataclass
class GroupResult:
    """Per-group curves of ``simulate_groups`` (a group: the images of one candidate).

    Attributes:
        correct: ``[G, T]`` correct predictions at each step.
        spike_counts: per spiking layer, ``[G, T]`` spikes at each step.
        n_images: ``[G]`` images of each group.
        readouts: the readout delays k of ``by_readout`` (the first is ``correct``'s).
        by_readout: ``[K, G, T]`` correct predictions at each step when the readout ignores
            the first k steps, for each k of ``readouts`` (as ``simulate(readout_after=k)``).
    """

    correct: torch.Tensor
    spike_counts: dict[str, torch.Tensor]
    n_images: torch.Tensor
    readouts: tuple[int, ...] = (0,)
    by_readout: torch.Tensor | None = None

    @property
    def accuracy(self) -> torch.Tensor:
        """``[G, T]`` accuracy curve of each group."""
        return self.correct.double() / self.n_images.clamp_min(1).double().unsqueeze(1)

    @property
    def accuracy_by_readout(self) -> torch.Tensor:
        """``[K, G, T]`` accuracy curve of each group read after each k of ``readouts``."""
        correct = self.correct.unsqueeze(0) if self.by_readout is None else self.by_readout
        return correct.double() / self.n_images.clamp_min(1).double().unsqueeze(1)


@torch.no_grad()
def simulate_groups(
    snn: ConvertedSNN,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    thresholds: torch.Tensor,
    timesteps: int,
    *,
    phi: torch.Tensor | None = None,
    delay: Delay = "layer",
    bias_onset: BiasOnset = "always",
    time_block: int | None = None,
    precision: Precision = "fp32",
    progress: bool = False,
    readouts: Sequence[int] = (0,),
    presim: int = 0,
) -> GroupResult:
    """Simulate images that belong to G groups, each with its own thresholds, in shared batches.

    One batch may mix groups: every image runs with its group's thresholds and initial
    potentials, and its spikes are exactly those of a separate ``simulate`` of that group
    with those thresholds and φ set (constant-current input).

    Args:
        snn: the converted network (its weights and device; its thresholds are not used).
        batches: ``(images [B, C, H, W], labels [B], group index [B])`` triples.
        thresholds: ``[G, IF layers]`` threshold values of each group.
        timesteps: T.
        phi: ``[G, IF layers]`` initial potential of each group as a fraction of its
            thresholds, each in [0, 1) (default: the SNN's φ for every group).
        delay: ``"layer"`` or ``"none"``.
        bias_onset: as in ``simulate``.
        time_block: as in ``simulate``.
        precision: as in ``simulate``.
        progress: show a progress bar over batches.
        readouts: readout delays k: ``by_readout`` tallies each group's curve read after
            each (delayed evaluation, as ``simulate(readout_after=k)``) from the same run;
            ``correct`` is the first's.
        presim: SRP's τ, as in ``simulate`` (each image's silenced neurons from its own run).

    Returns:
        Per group: correct predictions per step (``correct``, and ``by_readout`` for each
        readout delay), images, and spike counts per layer and step.
    """
    call = "simulate_groups(snn, batches, thresholds, timesteps)"
    _check(call, snn, timesteps, delay, bias_onset, time_block)
    check_presim(presim, timesteps)
    readouts = tuple(int(k) for k in readouts)
    if not readouts or not all(0 <= k < timesteps for k in readouts):
        raise UserError(
            f"readouts must be one or more integers in [0, T) = [0, {timesteps}), "
            f"got {list(readouts)}"
        )
    thresholds = torch.as_tensor(thresholds, dtype=torch.float32, device=snn.device)
    if thresholds.dim() != 2 or thresholds.shape[1] != len(snn.if_names):
        raise ValueError(
            f"thresholds must be [groups, {len(snn.if_names)}] (one per IF layer), "
            f"got {tuple(thresholds.shape)}"
        )
    if not (torch.isfinite(thresholds).all() and (thresholds > 0).all()):
        raise ValueError("thresholds must be finite and > 0")
    groups = thresholds.shape[0]
    if phi is None:
        phi = torch.tensor([snn.phi] * groups)
    phi = torch.as_tensor(phi, dtype=torch.float32, device=snn.device)
    if phi.shape != thresholds.shape:
        raise ValueError(
            f"phi must be [groups, IF layers] like the thresholds {tuple(thresholds.shape)}, "
            f"got {tuple(phi.shape)}"
        )
    if not bool(((phi >= 0) & (phi < 1)).all()):
        raise ValueError("phi must be in [0, 1)")
    tally = _Tally(snn.if_names, timesteps, groups, snn.device, readouts)
    n_images = torch.zeros(groups, dtype=torch.int64)
    for x, y, g in _progress(batches, timesteps, progress):
        x, y = _checked_batch(snn, x, y)
        if not len(y):
            continue
        g = torch.as_tensor(g).to(snn.device)
        if len(g) != len(y) or (len(g) and not 0 <= int(g.min()) <= int(g.max()) < groups):
            raise ValueError(f"group indices must be in [0, {groups}) with one per image")
        blocks = run_blocks(
            snn,
            x,
            timesteps,
            thresholds[g],
            phi=phi[g],
            delay=delay,
            bias_onset=bias_onset,
            time_block=time_block,
            precision=precision,
            presim=presim,
            keep_spikes=False,
        )
        for block in blocks:
            tally.add(block, y, g)
        n_images += torch.bincount(g.cpu(), minlength=groups)
    return GroupResult(
        tally.correct.cpu(),
        {n: c.cpu() for n, c in tally.counts.items()},
        n_images,
        readouts,
        tally.by_readout.cpu(),
    )
