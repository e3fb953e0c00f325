"""Layer-wise unsupervised STDP of convolutional SNN layers with BindsNET's learning rules
(Panda, Aketi & Roy 2020, §3.2.3 and §4.3, after Srinivasan & Roy 2019 and Lee et al. 2018b).

Network: a stack of STDP layers. Each is a k×k convolution (a bindsnet ``Conv2dConnection``,
"same" padding, no bias) into LIF neurons, applied ``repeat`` times with the same weights (a
BackRes block when ``repeat = n > 1``: the output spikes of step u are the input of step u+1),
then OR-pooling of the spikes. The input is Bernoulli spikes with probability
``input_rate × pixel`` per step.

LIF (BindsNET's ``LIFNodes`` with rest = reset = 0 and no refractory period):
``v = λ·v + I; s = H(v − θ); v = 0 where s``, λ = exp(−1/τ_m).

Learning rule, Eq. 5 of Panda et al. (Δw = η·(exp(−(t_post − t_pre)/τ) − offset)) in BindsNET's
form: ``PostPre`` adds ``ν_post·x_pre`` at every post-synaptic spike and subtracts
``ν_pre·x_post`` at every pre-synaptic spike, x being the spike trace (x ← x·exp(−1/τ_trace), set
to 1 on a spike), so a pre spike shortly before a post spike potentiates and uncorrelated spikes
depress (the offset). ``WeightDependentPostPre`` scales potentiation by ``w_max − w`` and
depression by ``w − w_min``.

Mini-batch STDP (Srinivasan & Roy 2019): one presentation of T steps is cut into k windows; the
spikes and traces of all the window's steps and images are stacked on the batch axis and the
rule is called once, with its batch reduction chosen explicitly (``mean``: the correlations
averaged over the mini-batch; bindsnet's default ``squeeze`` breaks for batch > 1). That is k
updates per presentation, and k·n for a BackRes layer (one per unrolling step, whose pre-synaptic
spikes are the previous step's output; Panda et al. §4.3).

Competition (Lee et al. 2018b; the text of Panda et al. names the schemes, not their constants):
uniform threshold adaptation — one θ per layer and unrolling step, after each update
``θ ← θ·exp(η_θ·(r − r*)/r*)`` with r the window's firing rate of the kept maps and r* the target
— and dropout of whole feature maps (no spikes, so no learning) with probability p per
presentation. Both together still let every kernel converge to the same feature here
(measured: mean |cosine| between kernels 0.89 in the first layer, 0.97 in the second), so the
learning layer also has lateral inhibition across maps (Masquelier & Thorpe 2007, Kheradpisheh
et al. 2018): at each position and step only the map with the highest potential may fire
(``inhibition="learning"``, the default; ``"always"`` keeps it in frozen layers too, ``"off"``
drops it). With it at most 1/C of a layer's neurons fire per step, so the target rate r* must
stay below 1/C. Weight normalisation per kernel: after every update each output kernel is set to
zero mean and L2 norm ``kernel_norm``, so no kernel wins by growing and every kernel is a
contrast detector. Optionally (``decorrelation`` > 0) each update is followed by a step that
pushes the kernels apart (``competition.decorrelate``), before the normalisation.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bindsnet.learning import PostPre, WeightDependentPostPre
from bindsnet.network.nodes import Input, LIFNodes
from bindsnet.network.topology import Conv2dConnection
from torch import nn
from torch.nn.grad import conv2d_weight
from tqdm.auto import tqdm

from neurosnn.config.stdp import BACKENDS as BACKENDS  # re-exported
from neurosnn.config.stdp import INHIBITIONS as INHIBITIONS
from neurosnn.config.stdp import STDPConfig
from neurosnn.errors import UserError
from neurosnn.io.data import Split
from neurosnn.learn.competition import (
    decorrelate,
    kernel_change,
    kernel_similarity,
    lif_scan,
    normalise_kernels,
    settled,
    winners,
)
from neurosnn.measures.energy import Energy, energy
from neurosnn.snn.macs import chain_inputs, connection_macs

log = logging.getLogger(__name__)
DEFAULT = STDPConfig()
RULES = {"postpre": PostPre, "weight-dependent": WeightDependentPostPre}
REDUCTIONS: dict[str, Callable] = {"mean": torch.mean, "sum": torch.sum}


@dataclass(frozen=True)
class ConvSpec:
    """One STDP layer: ``channels`` k×k kernels, applied ``repeat`` times (BackRes n), then
    ``pool``×``pool`` OR-pooling (1: none)."""

    channels: int
    kernel: int = 3
    repeat: int = 1
    pool: int = 2

    def __post_init__(self) -> None:
        for field in ("channels", "kernel", "repeat", "pool"):
            if getattr(self, field) < 1:
                raise UserError(f"ConvSpec.{field} must be >= 1, got {getattr(self, field)}")
        if self.kernel % 2 == 0:
            raise UserError(f"ConvSpec.kernel must be odd ('same' padding), got {self.kernel}")


def trace_scan(
    spikes: torch.Tensor, x: torch.Tensor, decay: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """BindsNET's non-additive spike trace over time: ``x ← x·decay``, then 1 where a spike."""
    traces = torch.empty_like(spikes)
    for t in range(len(spikes)):
        x = (x * decay).masked_fill(spikes[t] > 0, 1.0)
        traces[t] = x
    return traces, x


class STDPLayer:
    """A convolution with its BindsNET learning rule, and one threshold per unrolling step."""

    def __init__(
        self,
        name: str,
        in_shape: tuple[int, int, int],
        spec: ConvSpec,
        cfg: STDPConfig,
        generator: torch.Generator,
    ) -> None:
        c, h, w = in_shape
        if spec.repeat > 1 and spec.channels != c:
            raise ValueError(
                f"{name}: a BackRes layer (repeat {spec.repeat}) keeps its channel count, "
                f"got {c} in and {spec.channels} out"
            )
        if cfg.inhibition != "off" and cfg.target_rate >= 1 / spec.channels:
            raise ValueError(
                f"{name}: with lateral inhibition at most 1/{spec.channels} of the neurons fire "
                f"per step; target_rate {cfg.target_rate} is out of reach"
            )
        if h % spec.pool or w % spec.pool:
            raise ValueError(f"{name}: pool {spec.pool} does not divide the {h}×{w} map")
        self.name, self.spec, self.cfg, self.in_shape = name, spec, cfg, in_shape
        self.out_shape = (spec.channels, h, w)  # before pooling
        self.source = Input(shape=in_shape, traces=True, tc_trace=cfg.tc_trace)
        self.target = LIFNodes(
            shape=self.out_shape,
            traces=True,
            tc_trace=cfg.tc_trace,
            thresh=cfg.theta0,
            rest=0.0,
            reset=0.0,
            refrac=0,
            tc_decay=cfg.tc_decay,
        )
        for nodes in (self.source, self.target):
            nodes.compute_decays(1.0)
        init = torch.randn(spec.channels, c, spec.kernel, spec.kernel, generator=generator)
        self.connection = Conv2dConnection(
            self.source,
            self.target,
            kernel_size=spec.kernel,
            padding=spec.kernel // 2,
            update_rule=RULES[cfg.rule],
            nu=cfg.nu,
            reduction=REDUCTIONS[cfg.reduction],
            wmin=cfg.wmin,
            wmax=cfg.wmax,
            w=normalise_kernels(init, cfg.kernel_norm),
        )
        # one threshold per unrolling step: a float, or with homeostasis "map" one per map [C]
        per_map = cfg.homeostasis == "map"
        self.thresholds: list = [
            torch.full((spec.channels,), cfg.theta0) if per_map else cfg.theta0
            for _ in range(spec.repeat)
        ]
        self.updates = 0
        self.nu_scale = 1.0  # the learning rates' schedule (train_layerwise sets it)

    @property
    def weight(self) -> torch.Tensor:
        return self.connection.w

    @property
    def step_names(self) -> list[str]:
        """One name per unrolling step (``conv2@1``, ``conv2@2`` … for BackRes)."""
        if self.spec.repeat == 1:
            return [self.name]
        return [f"{self.name}@{u + 1}" for u in range(self.spec.repeat)]

    @property
    def pooled_shape(self) -> tuple[int, int, int]:
        c, h, w = self.out_shape
        return c, h // self.spec.pool, w // self.spec.pool

    def current(self, spikes: torch.Tensor) -> torch.Tensor:
        """``[τ, B, C, H, W]`` input spikes → synaptic current into the LIF neurons."""
        pad = self.spec.kernel // 2
        out = F.conv2d(spikes.flatten(0, 1), self.connection.w, padding=pad)
        return out.view(*spikes.shape[:2], *out.shape[1:])

    def pool(self, spikes: torch.Tensor) -> torch.Tensor:
        """OR-pooling of 0/1 spikes ``[τ, B, C, H, W]`` (max = OR)."""
        if self.spec.pool == 1:
            return spikes
        out = F.max_pool2d(spikes.flatten(0, 1), self.spec.pool)
        return out.view(*spikes.shape[:2], *out.shape[1:])

    def learn(
        self, pre: torch.Tensor, pre_x: torch.Tensor, post: torch.Tensor, post_x: torch.Tensor
    ) -> None:
        """One STDP update from a window's spikes and traces ``[τ, B, ...]``, stacked on the
        batch axis for the BindsNET rule; then the kernels are pushed apart (``decorrelation``
        above 0) and renormalised."""
        n = pre.shape[0] * pre.shape[1]
        pre, pre_x = pre.reshape(n, *self.in_shape), pre_x.reshape(n, *self.in_shape)
        post, post_x = post.reshape(n, *self.out_shape), post_x.reshape(n, *self.out_shape)
        if self.cfg.backend == "bindsnet":
            self.connection.update_rule.nu = torch.tensor(self.cfg.nu) * self.nu_scale
            self.source.batch_size = self.target.batch_size = n
            self.source.s, self.source.x = pre.bool(), pre_x
            self.target.s, self.target.x = post.bool(), post_x
            self.connection.update(learning=True)
        else:
            self._torch_update(pre, pre_x, post, post_x)
        w = self.connection.w
        if self.cfg.decorrelation:
            w = decorrelate(w, self.cfg.decorrelation)
        self.connection.w.copy_(normalise_kernels(w, self.cfg.kernel_norm))
        self.updates += 1

    def _torch_update(self, pre, pre_x, post, post_x) -> None:
        """The BindsNET rule's update computed as convolution weight gradients: bindsnet's
        per-sample ``im2col`` + ``bmm`` is ``conv2d_weight`` summed over the batch (the same
        sums in another order, so equal to float tolerance; tested)."""
        cfg, w = self.cfg, self.connection.w
        pad = self.spec.kernel // 2
        scale = 1.0 / len(pre) if cfg.reduction == "mean" else 1.0
        depression = conv2d_weight(pre, w.shape, post_x, padding=pad) * scale
        potentiation = conv2d_weight(pre_x, w.shape, post, padding=pad) * scale
        if cfg.rule == "weight-dependent":
            depression = depression * (w - cfg.wmin)
            potentiation = potentiation * (cfg.wmax - w)
        nu = [rate * self.nu_scale for rate in cfg.nu]
        w += nu[1] * potentiation - nu[0] * depression
        w.clamp_(cfg.wmin, cfg.wmax)

    def threshold(self, step: int) -> float | torch.Tensor:
        """Unrolling step ``step``'s threshold as ``lif_scan`` takes it."""
        theta = self.thresholds[step]
        return theta.view(-1, 1, 1) if isinstance(theta, torch.Tensor) else theta

    def adapt(self, step: int, rate: float | torch.Tensor) -> None:
        """Threshold adaptation of unrolling step ``step`` toward the target rate:
        ``θ ← θ·exp(η_θ·(r − r*)/r*)``, with ``r`` the layer's rate (a float) or each map's
        (``[C]``, homeostasis "map")."""
        cfg = self.cfg
        ratio = (rate - cfg.target_rate) / cfg.target_rate
        if isinstance(ratio, torch.Tensor):
            theta = self.thresholds[step].to(ratio.device)
            self.thresholds[step] = theta * torch.exp(cfg.threshold_lr * ratio)
        else:
            self.thresholds[step] *= math.exp(cfg.threshold_lr * ratio)

    def threshold_values(self) -> list:
        """The thresholds as plain numbers (a list per step where they are per map)."""
        return [t.tolist() if isinstance(t, torch.Tensor) else t for t in self.thresholds]

    def state_dict(self) -> dict:
        return {"weight": self.weight.clone(), "thresholds": list(self.thresholds)}

    def load_state_dict(self, state: dict) -> None:
        self.connection.w.copy_(state["weight"])
        device = self.connection.w.device
        self.thresholds = [
            t.to(device) if isinstance(t, torch.Tensor) else t for t in state["thresholds"]
        ]


@dataclass
class Presentation:
    """What one presentation of a batch produced: the last layer's pooled spike counts
    ``[B, C, H, W]`` and the spikes of the input, of every unrolling step and of every layer's
    pooled output (``conv1:pool``), summed over the images, at each step ``[T]``."""

    counts: torch.Tensor
    step_spikes: dict[str, torch.Tensor]


class STDPNet:
    """A stack of ``STDPLayer`` trained one layer at a time, earlier layers frozen."""

    def __init__(
        self,
        specs: list[ConvSpec],
        input_shape: tuple[int, int, int],
        cfg: STDPConfig = DEFAULT,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if not specs:
            raise ValueError("an STDP network needs at least one ConvSpec")
        gen = torch.Generator().manual_seed(seed)
        self.cfg, self.input_shape, self.device = cfg, tuple(input_shape), torch.device(device)
        self.layers: list[STDPLayer] = []
        shape = self.input_shape
        for i, spec in enumerate(specs):
            layer = STDPLayer(f"conv{i + 1}", shape, spec, cfg, gen)
            self.layers.append(layer)
            shape = layer.pooled_shape
        self.to(self.device)
        self._leak = self.layers[0].target.decay.to(self.device)
        self._trace = self.layers[0].source.trace_decay.to(self.device)

    def to(self, device: torch.device) -> STDPNet:
        for layer in self.layers:
            layer.connection.to(device)
            for nodes in (layer.source, layer.target):
                nodes.to(device)
            layer.thresholds = [
                t.to(device) if isinstance(t, torch.Tensor) else t for t in layer.thresholds
            ]
        return self

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return self.layers[-1].pooled_shape

    def encode(self, pixels: torch.Tensor, steps: int, gen: torch.Generator) -> torch.Tensor:
        """Pixels in [0, 1] ``[B, C, H, W]`` → spikes ``[steps, B, C, H, W]`` (on the pixels' and
        the generator's device). Rate coding: Bernoulli, probability ``input_rate × pixel`` per
        step. Latency coding: each pixel above 0 fires once, at step ``⌊(1 − pixel)·steps⌋``
        (the last step for the faintest), so the spikes arrive in the order of the
        intensities (rank-order coding, Kheradpisheh et al. 2018, §2.1, without its DoG
        filters)."""
        if self.cfg.coding == "latency":
            t = ((1 - pixels) * steps).floor().clamp(max=steps - 1)
            steps_ = torch.arange(steps, dtype=pixels.dtype).view(-1, *[1] * pixels.dim())
            return ((steps_ == t) & (pixels > 0)).to(pixels.dtype)
        p = (pixels * self.cfg.input_rate).clamp(0, 1).unsqueeze(0).expand(steps, *pixels.shape)
        return torch.bernoulli(p.contiguous(), generator=gen)

    def present(
        self,
        pixels: torch.Tensor,
        gen: torch.Generator,
        train: int | None = None,
        learn_weights: bool = True,
    ) -> Presentation:
        """Run one batch for T steps, window by window.

        With ``train = i``, layer i (0-based) learns: dropout of its maps, STDP updates
        (``learn_weights``; off, only its thresholds adapt: the random-feature control) and
        threshold adaptation after every window; layers after it are not run. Otherwise all
        layers run frozen and the last layer's pooled spikes are counted.
        """
        cfg, pixels = self.cfg, pixels.cpu()  # drawn on the CPU: the generator lives there
        B = len(pixels)
        last = len(self.layers) - 1 if train is None else train
        v = {n: None for layer in self.layers[: last + 1] for n in layer.step_names}
        traces: dict[str, torch.Tensor | None] = {}
        keep = None
        if train is not None:
            layer = self.layers[train]
            shape = (B, layer.spec.channels, 1, 1)
            keep = torch.rand(shape, generator=gen, device="cpu") >= cfg.dropout
            keep = keep.to(self.device, torch.float32)
        counts = None
        pooled = [f"{layer.name}:pool" for layer in self.layers[: last + 1]]
        step_spikes = {n: [] for n in ["input", *v, *pooled]}
        for _ in range(cfg.updates):
            s = self.encode(pixels, cfg.window, gen).to(self.device)
            step_spikes["input"].append(s.flatten(1).sum(1))
            for i, layer in enumerate(self.layers[: last + 1]):
                learning = i == train
                for u, name in enumerate(layer.step_names):
                    cur = layer.current(s)
                    if v[name] is None:
                        v[name] = torch.zeros_like(cur[0])
                    theta = layer.threshold(u)
                    inhibit = cfg.inhibition == "always" or (
                        learning and cfg.inhibition == "learning"
                    )
                    post, v[name] = lif_scan(cur, v[name], theta, self._leak, inhibit)
                    if learning:
                        post = post * keep
                        if learn_weights:
                            learner = post
                            if cfg.winners:  # k-WTA: only the winning maps' spikes learn
                                learner = post * winners(post, cfg.winners)[..., None, None]
                            pre_x = self._traced(traces, f"{name}:pre", s)
                            post_x = self._traced(traces, f"{name}:post", learner)
                            layer.learn(s, pre_x, learner, post_x)
                        if cfg.homeostasis == "map":  # each kept map's own rate
                            kept = keep.sum((0, 2, 3)) * cur[0, 0, 0].numel() * len(cur)
                            fired = post.sum((0, 1, 3, 4))
                            rate = torch.where(kept > 0, fired / kept.clamp_min(1), cfg.target_rate)
                            layer.adapt(u, rate)
                        else:
                            kept = keep.sum() * cur[0, 0, 0].numel() * len(cur)
                            layer.adapt(u, float(post.sum() / kept.clamp_min(1)))
                    step_spikes[name].append(post.flatten(1).sum(1))
                    s = post
                s = layer.pool(s)
                step_spikes[f"{layer.name}:pool"].append(s.flatten(1).sum(1))
                if i == last and train is None:
                    window = s.sum(0)
                    counts = window if counts is None else counts + window
        return Presentation(
            counts=counts if counts is not None else torch.empty(0),
            step_spikes={n: torch.cat(x).cpu() for n, x in step_spikes.items()},
        )

    def _traced(self, traces: dict, key: str, spikes: torch.Tensor) -> torch.Tensor:
        x0 = traces.get(key)
        x, traces[key] = trace_scan(
            spikes, torch.zeros_like(spikes[0]) if x0 is None else x0, self._trace
        )
        return x

    def energy(
        self, step_spikes: dict[str, torch.Tensor], n_images: int, classifier: nn.Module
    ) -> Energy:
        """Eq. 9–11 of Panda et al. for this network with ``classifier`` on its spike counts.

        The input is Bernoulli spikes, so every convolution counts AC × its input's activity;
        the classifier reads the counts once per image and counts MACs."""
        names, shapes, macs, counts = ["input"], {"input": self.input_shape}, {"input": 0}, {}
        counts["input"] = step_spikes["input"]
        for layer in self.layers:
            c, h, w = layer.out_shape
            per_step = c * h * w * layer.in_shape[0] * layer.spec.kernel**2
            for name in layer.step_names:
                names.append(name)
                macs[name], shapes[name], counts[name] = (
                    per_step,
                    layer.out_shape,
                    step_spikes[name],
                )
            shapes[name], counts[name] = layer.pooled_shape, step_spikes[f"{layer.name}:pool"]
        names.append("classifier")
        macs["classifier"] = connection_macs(classifier, self.output_shape)
        inputs = chain_inputs(names, macs)
        return energy(names, shapes, inputs, counts, n_images, self.cfg.timesteps, [name])

    def state_dict(self) -> dict:
        return {layer.name: layer.state_dict() for layer in self.layers}

    def load_state_dict(self, state: dict) -> None:
        for layer in self.layers:
            layer.load_state_dict(state[layer.name])


def pixels(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Normalised images (as ``Split.batches`` yields them) back to pixels in [0, 1]."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    sd = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x * sd + m).clamp(0, 1)


def train_layerwise(
    net: STDPNet,
    split: Split,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int = 16,
    epochs: int = 1,
    seed: int = 0,
    learn_weights: bool = True,
    layers: list[int] | None = None,
    progress: bool = True,
    convergence: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, list[float]]:
    """Train ``layers`` (default all) one after the other on the unlabelled ``split``, each
    for ``epochs`` passes with the earlier layers frozen. Returns, per unrolling step, its
    firing rate per batch (spikes per neuron per step).

    ``convergence``, when given and the weights learn, is filled per layer with two series,
    one value per batch: ``change``, the kernels' mean relative change ``‖w − w₀‖/‖w₀‖`` over the
    batch, and ``similarity``, their mean |cosine| after it (``kernel_similarity``)."""
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {}
    for i in range(len(net.layers)) if layers is None else layers:
        layer = net.layers[i]
        track = convergence is not None and learn_weights
        batches = epochs * math.ceil(len(split) / batch_size)
        done = 0
        if track:
            series = convergence.setdefault(layer.name, {"change": [], "similarity": []})
        neurons = math.prod(layer.out_shape) * net.cfg.timesteps
        start = time.perf_counter()
        bar = tqdm(
            total=epochs * len(split), desc=f"STDP {layer.name}", unit="img", disable=not progress
        )
        for epoch in range(epochs):
            for x, _ in split.batches(batch_size, shuffle=True, seed=seed + epoch):
                before = layer.weight.clone() if track else None
                # the schedule: ν·nu_decay^(done / (batches − 1)), nu_decay at the last batch
                layer.nu_scale = net.cfg.nu_decay ** (done / max(1, batches - 1))
                done += 1
                run = net.present(pixels(x, mean, std), gen, train=i, learn_weights=learn_weights)
                if track:
                    series["change"].append(kernel_change(before, layer.weight))
                    series["similarity"].append(kernel_similarity(layer.weight.cpu()))
                for name in layer.step_names:
                    rate = float(run.step_spikes[name].sum()) / neurons / len(x)
                    history.setdefault(name, []).append(rate)
                bar.update(len(x))
                bar.set_postfix(theta=f"{float(torch.as_tensor(layer.thresholds[-1]).mean()):.3g}")
        bar.close()
        rates = ", ".join(f"{history[n][-1]:.3g}" for n in layer.step_names)
        line = f"{layer.name}: {epochs * len(split)} images in {time.perf_counter() - start:.0f} s"
        line += f", {'STDP' if learn_weights else 'thresholds only'}, final rate {rates}"
        if track:
            c = series
            line += (
                f"; kernels moved {c['change'][0]:.2g} per batch at first, "
                f"{settled(c['change']):.2g} at the end; similarity "
                f"{c['similarity'][0]:.2f} -> {c['similarity'][-1]:.2f}"
            )
        log.info(line)
    return history


@dataclass
class Features:
    """Spike counts of the last STDP layer over T (the classifier's input) and the spikes of
    every unrolling step per image and step, summed over the images."""

    counts: torch.Tensor  # [N, C, H, W] uint8 (counts <= T <= 255) or int16
    labels: torch.Tensor  # [N]
    step_spikes: dict[str, torch.Tensor]  # name -> [T]


def spike_features(
    net: STDPNet,
    split: Split,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
) -> Features:
    """Run the frozen network on every image of ``split`` for T steps."""
    gen = torch.Generator().manual_seed(seed)
    dtype = torch.uint8 if net.cfg.timesteps <= 255 else torch.int16
    counts, labels, spikes = [], [], {}
    bar = tqdm(total=len(split), desc="spike features", unit="img", disable=not progress)
    for x, y in split.batches(batch_size):
        run = net.present(pixels(x, mean, std), gen)
        counts.append(run.counts.cpu().to(dtype))
        labels.append(y)
        for name, s in run.step_spikes.items():
            spikes[name] = s if name not in spikes else spikes[name] + s
        bar.update(len(x))
    bar.close()
    return Features(torch.cat(counts), torch.cat(labels), spikes)
