"""Operation counts and inference energy of an ANN and its SNN (Panda, Aketi & Roy 2020, §7).

Eq. 9: a Conv2d with N input and M output channels, k×k kernels and an O×O output performs
``FLOPs_ANN = O²·N·k²·M`` multiply-accumulates (MAC) per image (a Linear: inputs × outputs);
the SNN performs, per timestep, ``FLOPs_SNN = O²·N·k²·M·SA`` accumulates (AC) only, SA being
the spiking activity of the layer's input (spikes per input neuron per step; SA = 1 in an ANN).
Eq. 10: ``E_ANN = Σ FLOPs_ANN · E_MAC`` and ``E_SNN = Σ FLOPs_SNN · E_AC · T`` (here: the
measured spikes summed over T). Eq. 11: ``EE = E_ANN / E_SNN``.

E_MAC = 3.2 pJ and E_AC = 0.1 pJ: 32-bit integer multiply (3.1 pJ) + add (0.1 pJ) in 45 nm CMOS
(Han et al. 2015, "Learning both weights and connections", Table 1 of Panda et al.). Memory
access is not counted (the same for both, so EE is unaffected).

Layers fed by real values rather than spikes (the first layer under constant-current input, the
ReLU layers of a hybrid network) count MACs, once per image: the current is the same at every
step. ``EE`` over the spiking layers only leaves those layers out of both energies. In a graph
each connection counts apart, with its own source's activity (a residual layer's identity
shortcut has no MACs: its spikes are added as they are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from neurosnn.snn.macs import Inputs

if TYPE_CHECKING:  # readers of result files (analysis) need neither torch nor bindsnet
    import torch
    from torch import nn

E_MAC_PJ = 3.2
E_AC_PJ = 0.1


@dataclass
class Energy:
    """Per-layer operation counts (per image) and the energies of Eq. 10–11.

    Attributes:
        layers: layer names in forward order (the operator into each layer).
        ann_macs: dense MACs of each layer (Eq. 9, SA = 1).
        activity: SA of each layer's input, spikes per input neuron per step (1.0 for
            real-valued input).
        snn_ops: operations of each layer in the SNN over all T steps.
        spiking: whether the layer's input is spikes (AC) or real values (MAC, once).
        snn_macs: the part of ``snn_ops`` that are MACs (real-valued input).
    """

    layers: list[str]
    ann_macs: list[int]
    activity: list[float]
    snn_ops: list[float]
    spiking: list[bool]
    snn_macs: list[float]

    def _energies(self, only_spiking: bool) -> tuple[float, float]:
        ann = snn = 0.0
        for macs, ops, spiking, real in zip(
            self.ann_macs, self.snn_ops, self.spiking, self.snn_macs, strict=True
        ):
            if only_spiking and not spiking:
                continue
            ann += macs * E_MAC_PJ
            snn += (ops - real) * E_AC_PJ + real * E_MAC_PJ
        return ann, snn

    @property
    def ann_pj(self) -> float:
        """E_ANN per image, picojoules."""
        return self._energies(False)[0]

    @property
    def snn_pj(self) -> float:
        """E_SNN per image, picojoules."""
        return self._energies(False)[1]

    @property
    def efficiency(self) -> float:
        """EE = E_ANN / E_SNN over the whole network (Eq. 11)."""
        ann, snn = self._energies(False)
        return ann / snn if snn > 0 else float("inf")

    @property
    def spiking_efficiency(self) -> float:
        """EE over the layers driven by spikes only."""
        ann, snn = self._energies(True)
        return ann / snn if snn > 0 else float("inf")

    def as_dict(self) -> dict:
        return {
            "layers": self.layers,
            "ann_macs": self.ann_macs,
            "activity": self.activity,
            "snn_ops": self.snn_ops,
            "spiking": self.spiking,
            "snn_macs": self.snn_macs,
            "ann_pj": self.ann_pj,
            "snn_pj": self.snn_pj,
            "efficiency": self.efficiency,
            "spiking_efficiency": self.spiking_efficiency,
        }


def energy(
    layer_names: list[str],
    layer_shapes: Mapping[str, tuple[int, ...]],
    inputs: Inputs,
    spike_counts: Mapping[str, np.ndarray | torch.Tensor],
    n_images: int,
    timesteps: int,
    analog: Iterable[str] = (),
) -> Energy:
    """Energy of an SNN whose layers are fed as ``inputs`` says.

    Args:
        layer_names: layers in forward order (spiking layers, then the output).
        layer_shapes: shape of each layer (one sample).
        inputs: per layer, ``(source, dense MACs per image)`` of each connection into it
            (``layer_inputs``; ``chain_inputs`` for a chain).
        spike_counts: per spiking layer, spikes at each step (summed over images) or in total.
        n_images: images the counts are summed over.
        timesteps: T.
        analog: sources whose output is real-valued (the image ``"input"`` of a converted
            SNN run with current input, the ReLU layers of a hybrid network); a source None
            always is.
    """
    if n_images < 1 or timesteps < 1:
        raise ValueError("n_images and timesteps must be >= 1")
    missing = [n for n in layer_names if n not in inputs]
    if missing:
        raise ValueError(f"no MAC count for layers {missing}")
    analog = {None, *analog}
    result = Energy([], [], [], [], [], [])
    for name in layer_names:
        dense = ops = real = weighted = 0.0
        for source, macs in inputs[name]:
            dense += macs
            if source in analog:  # real-valued input: MACs, once per image
                ops, real = ops + macs, real + macs
                continue
            if source not in spike_counts:
                raise ValueError(f"no spike counts for layer {source} (feeding {name})")
            neurons = int(np.prod(layer_shapes[source]))
            total = float(np.asarray(spike_counts[source], dtype=np.float64).sum())
            activity = total / (neurons * n_images * timesteps)
            ops += macs * activity * timesteps
            weighted += macs * activity
        spiking_macs = dense - real
        spiking = spiking_macs > 0 or all(s not in analog for s, _ in inputs[name])
        result.layers.append(name)
        result.ann_macs.append(int(dense))
        result.activity.append(weighted / spiking_macs if spiking_macs > 0 else 1.0)
        result.snn_ops.append(ops)
        result.spiking.append(spiking)
        result.snn_macs.append(real)
    return result


def energy_of(run, analog: Iterable[str] = ()) -> Energy:
    """``energy`` of a ``neurosnn.simulation.run.SimResult`` or a
    ``neurosnn.io.record.RunRecord`` (both carry the layers, MACs and spike counts); the
    image is a real-valued input (MACs once per image)."""
    return energy(
        list(run.layer_names),
        run.layer_shapes,
        run.inputs,
        run.spike_counts,
        run.n_images,
        run.timesteps,
        ["input", *analog],
    )


def unique_parameters(model: nn.Module) -> int:
    """Trainable values of ``model``, each shared tensor counted once (BackRes re-uses a
    block's weights n times): the compression of a BackRes net over a plain one of the same
    logical depth is ``unique_parameters(plain) / unique_parameters(backres)``."""
    return sum(p.numel() for p in model.parameters())
