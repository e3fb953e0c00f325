"""A converted SNN unrolled over T steps for backpropagation through time.

Built from a :class:`~neurosnn.snn.ConvertedSNN`: the same connections (trainable copies of
their weights), the same per-layer thresholds and initial potentials ``φ·θ``, the same timing
(``delay="layer"``: each layer reads the previous step's spikes, the input layer silent before
step 0; ``"none"``: all layers within a step; ``bias_onset="input"``: each layer's current
withheld until its input can first arrive) and the same threshold-valued spikes, so its forward
pass gives the BindsNET network's spikes exactly. :meth:`SurrogateSNN.export_to` writes the
trained weights back into the BindsNET network, so ``simulate``/``record``/``analysis`` work on
the fine-tuned SNN unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from neurosnn.engine import BiasOnset, Delay, onsets
from neurosnn.snn import ConvertedSNN
from neurosnn.surrogate.neurons import if_step
from neurosnn.surrogate.spike import Surrogate, surrogate
from neurosnn.synapses import SpikeMaxPool2d


@dataclass
class Unrolled:
    """What :meth:`SurrogateSNN.forward` returns.

    Attributes:
        output: ``[T, B, classes]`` output potential after each step (the evidence).
        spikes: spikes of all IF layers over all steps, per image ``[B]`` (differentiable: the
            spike count of Allred et al.'s sparsity loss).
    """

    output: torch.Tensor
    spikes: torch.Tensor
    hidden: torch.Tensor | None = None  # [T, B, F] running mean of the last hidden layer
    layer_spikes: dict[str, float] | None = None  # spikes of each layer, summed over the batch

    def logits(self) -> torch.Tensor:
        """Mean output current over the T steps, ``[B, classes]`` (≈ the ANN's logits)."""
        return self.output[-1] / len(self.output)


class SurrogateSNN(nn.Module):
    """The converted SNN as a recurrent torch module of subtractive-reset IF layers."""

    def __init__(
        self,
        snn: ConvertedSNN,
        fn: Surrogate | str = "linear",
        delay: Delay = "layer",
        bias_onset: BiasOnset = "always",
    ) -> None:
        super().__init__()
        self.withheld = onsets(len(snn.layer_names), delay, bias_onset)  # checks both
        self.layer_names = list(snn.layer_names)
        self.shapes = [tuple(snn.layer(n).shape) for n in self.layer_names]
        self.stages = nn.ModuleList(
            copy.deepcopy(snn.connection(n).ops).requires_grad_(True) for n in self.layer_names
        )
        self.register_buffer("thresholds", torch.tensor(snn.thresholds, dtype=torch.float32))
        self.register_buffer("phi", torch.tensor(snn.phi, dtype=torch.float32))
        self.fn = surrogate(fn) if isinstance(fn, str) else fn
        self.delay = delay

    def _stage(self, i: int, x: torch.Tensor, pool_counts: dict) -> torch.Tensor:
        for k, m in enumerate(self.stages[i]):
            if isinstance(m, SpikeMaxPool2d):
                fired = x.detach().ne(0).to(x.dtype)
                counts = pool_counts.get((i, k))
                pool_counts[(i, k)] = fired if counts is None else counts + fired
                x = m.gate(x, pool_counts[(i, k)])
            else:
                x = m(x)
        return x

    def forward(self, x: torch.Tensor, timesteps: int) -> Unrolled:
        """Run ``x [B, C, H, W]`` (constant-current input) for ``timesteps`` steps."""
        batch, last = len(x), len(self.stages) - 1
        v: list[torch.Tensor | None] = [None] * last
        prev = [x.new_zeros(batch, *shape) for shape in self.shapes[:-1]]  # θ-valued spikes
        source, pool_counts, outputs = torch.zeros_like(x), {}, []
        total = x.new_zeros(batch)
        out = None
        for t in range(timesteps):
            if self.delay == "none":
                source = x
            new = []
            for i in range(last + 1):
                if i == 0:
                    inp = source
                else:
                    inp = prev[i - 1] if self.delay == "layer" else new[i - 1]
                cur = self._stage(i, inp, pool_counts)
                if t < self.withheld[i]:
                    cur = torch.zeros_like(cur)
                if i < last:
                    theta = self.thresholds[i]
                    if v[i] is None:  # φ·θ, the product the BindsNET nodes start from
                        v[i] = (self.phi[i] * theta).expand_as(cur)
                    s, v[i] = if_step(cur, v[i], theta, self.fn)
                    total = total + s.flatten(1).sum(1)
                    new.append(s * theta)
                else:
                    out = cur if out is None else out + cur
                    outputs.append(out)
            prev, source = new, x
        return Unrolled(torch.stack(outputs), total)

    @torch.no_grad()
    def export_to(self, snn: ConvertedSNN) -> None:
        """Copy the (trained) weights into the BindsNET network's connections."""
        if list(snn.layer_names) != self.layer_names:
            raise ValueError("the SNN's layers differ from this network's")
        for name, stage in zip(self.layer_names, self.stages, strict=True):
            target = snn.connection(name).weighted
            source = next(m for m in stage if isinstance(m, nn.Conv2d | nn.Linear))
            target.weight.copy_(source.weight)
            if target.bias is not None:
                target.bias.copy_(source.bias)


class SNNClassifier(nn.Module):
    """``x → logits`` of a :class:`SurrogateSNN` run for a fixed T: lets ANN tools (FGSM through
    the SNN itself, :func:`neurosnn.attacks.fgsm`) use the surrogate gradients."""

    def __init__(self, net: SurrogateSNN, timesteps: int) -> None:
        super().__init__()
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        self.net, self.timesteps = net, timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.timesteps).logits()
