"""A converted SNN unrolled over T steps for backpropagation through time.

Built from a ``neurosnn.snn.network.ConvertedSNN``: the same connections (trainable copies of
their weights), the same per-layer thresholds and initial potentials ``φ·θ``, the same timing
(``delay="layer"``: each layer reads the previous step's spikes, the input layer silent before
step 0; ``"none"``: all layers within a step; ``bias_onset="input"``: each layer's current
withheld until its input can first arrive) and the same threshold-valued spikes, so its forward
pass gives the BindsNET network's spikes exactly. ``SurrogateSNN.export_to`` writes the
trained weights back into the BindsNET network, so ``simulate``/``record``/``analysis`` work on
the fine-tuned SNN unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from neurosnn.learn.surrogate.neurons import if_step
from neurosnn.learn.surrogate.spike import Surrogate, surrogate
from neurosnn.simulation.engine.fast import onsets
from neurosnn.simulation.options import BiasOnset, Delay
from neurosnn.snn.network import INPUT, ConvertedSNN
from neurosnn.snn.synapses import SpikeMaxPool2d


@dataclass
class Unrolled:
    """What ``SurrogateSNN.forward`` returns.

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
    """The converted SNN as a recurrent torch module of subtractive-reset IF layers: layers in
    topological order, each summing its incoming connections (trainable copies), for
    fine-tuning by backpropagation through time.

    Its forward pass gives bindsnet's spikes exactly (both delays, average and max pooling);
    the spike's backward pass is the surrogate gradient ``fn``.

    Args:
        snn: the converted SNN (its weights are copied; ``export_to`` writes them back).
        fn: the surrogate: ``"linear"`` (γ·max(0, 1 − |V|), γ = 0.15, Lu & Sengupta's Eq. 18),
            ``"fast-sigmoid"``, ``"arctan"``, or a ``Surrogate``.
        delay: ``"layer"`` (one step per connection) or ``"none"``.
        bias_onset: ``"always"`` or ``"input"``, as in ``simulate``.

    Example:
        ```python
        unrolled = SurrogateSNN(snn, delay="none")
        loss = F.cross_entropy(unrolled(x, 32).logits(), y)  # BPTT over 32 steps
        loss.backward()
        unrolled.export_to(snn)
        ```
    """

    def __init__(
        self,
        snn: ConvertedSNN,
        fn: Surrogate | str = "linear",
        delay: Delay = "layer",
        bias_onset: BiasOnset = "always",
    ) -> None:
        super().__init__()
        withheld = onsets(snn, delay, bias_onset)  # checks both
        self.layer_names = list(snn.layer_names)
        self.shapes = {n: tuple(snn.layer(n).shape) for n in snn.if_names}
        self.withheld = [withheld[n] for n in self.layer_names]
        self.edges = list(snn.network.connections)  # (source, target[, k]) in summation order
        self.stages = nn.ModuleList(
            copy.deepcopy(c.ops).requires_grad_(True) for c in snn.network.connections.values()
        )
        self.register_buffer("thresholds", torch.tensor(snn.thresholds, dtype=torch.float32))
        self.register_buffer("phi", torch.tensor(snn.phi, dtype=torch.float32))
        self.offsets = [snn.layer(n).offset.clone() for n in snn.if_names]  # per neuron
        self.fn = surrogate(fn) if isinstance(fn, str) else fn
        self.delay = delay

    def _stage(self, k: int, x: torch.Tensor, pool_counts: dict) -> torch.Tensor:
        for j, m in enumerate(self.stages[k]):
            if isinstance(m, SpikeMaxPool2d):
                fired = x.detach().ne(0).to(x.dtype)
                counts = pool_counts.get((k, j))
                pool_counts[(k, j)] = fired if counts is None else counts + fired
                x = m.gate(x, pool_counts[(k, j)])
            else:
                x = m(x)
        return x

    def forward(self, x: torch.Tensor, timesteps: int) -> Unrolled:
        """Run ``x [B, C, H, W]`` (constant-current input) for ``timesteps`` steps."""
        last = len(self.layer_names) - 1
        v: list[torch.Tensor | None] = [None] * last
        # θ-valued spikes of the step before (every source silent before step 0)
        prev = {n: x.new_zeros(len(x), *shape) for n, shape in self.shapes.items()}
        prev[INPUT] = torch.zeros_like(x)
        pool_counts, outputs = {}, []
        total = x.new_zeros(len(x))
        out = None
        for t in range(timesteps):
            new: dict[str, torch.Tensor] = {INPUT: x}
            read = prev if self.delay == "layer" else new
            for i, name in enumerate(self.layer_names):
                cur = None
                for k, key in enumerate(self.edges):
                    if key[1] != name:
                        continue
                    c = self._stage(k, read[key[0]], pool_counts)
                    cur = c if cur is None else cur + c
                if t < self.withheld[i]:
                    cur = torch.zeros_like(cur)
                if i < last:
                    theta = self.thresholds[i]
                    if v[i] is None:  # φ·θ + offset, the sum the BindsNET nodes start from
                        offset = self.offsets[i].to(cur.device)
                        v[i] = (self.phi[i] * theta + offset).expand_as(cur)
                    s, v[i] = if_step(cur, v[i], theta, self.fn)
                    total = total + s.flatten(1).sum(1)
                    new[name] = s * theta
                else:
                    out = cur if out is None else out + cur
                    outputs.append(out)
            prev = new
        return Unrolled(torch.stack(outputs), total)

    @torch.no_grad()
    def export_to(self, snn: ConvertedSNN) -> None:
        """Copy the (trained) weights into the BindsNET network's connections."""
        if list(snn.layer_names) != self.layer_names or list(snn.network.connections) != self.edges:
            raise ValueError("the SNN's layers differ from this network's")
        for key, stage in zip(self.edges, self.stages, strict=True):
            snn.network.connections[key].ops.load_state_dict(stage.state_dict())


class SNNClassifier(nn.Module):
    """``x → logits`` of a ``SurrogateSNN`` run for a fixed T: lets ANN tools (FGSM through
    the SNN itself, ``neurosnn.measures.attacks.fgsm``) use the surrogate gradients."""

    def __init__(self, net: SurrogateSNN, timesteps: int) -> None:
        super().__init__()
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        self.net, self.timesteps = net, timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.timesteps).logits()
