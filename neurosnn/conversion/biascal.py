"""Bias and potential calibration: Li, Deng, Dong, Gong & Gu, "A free lunch from ANN: towards
efficient, accurate spiking neural networks calibration", ICML 2021 — the "light" pipeline
(bias calibration) and the potential calibration of the "advanced" one.

After conversion an IF layer's mean output over T steps (spike count · θ / T) differs from its
ANN activation: the flooring of a rate to whole spikes, the clipping at θ, and the errors of the
layers below. Layer by layer, in topological order, the calibration measures the expected
error per channel on a few training images and moves it into the layer's bias:

    e_c = mean over images and positions of ( a_c  −  θ · count_c / T )
    b_c ← b_c + e_c

with ``a`` the ANN's activation there (after the sum, at a residual merge) and ``count`` the
spikes of the SNN whose earlier layers are already calibrated (the paper's layer-wise
sequential correction). Bias current acts every step, so each channel's mean output moves by
about ``e_c``.

Where the authors' code (yhhhli/SNN_Calibration, ``models/calibration.py``, ``emp_bias_corr``)
differs from the paper, or from this module:
- it calibrates on one batch of 128 training images; here any number (the latency job: the
  ``--calib-images`` drawn from the training split);
- its CIFAR script simulates 32 steps whatever ``--T`` says; here ``timesteps`` is the T the
  SNN will be read at, as the paper describes;
- its thresholds come from a search minimising the MSE of the clipped activation, and every
  step adds θ/(2T) to the potential; here the thresholds and the initial potential φ·θ are
  whatever the SNN has (percentiles, channel-wise, φ = 0.5, ...), so the calibration composes
  with every recipe: set them first, then calibrate.
The SNN runs without the layer delay (``delay="none"``, all layers within a step), as the
paper and the field count T; with the bias onset, the layer-delay run is that run shifted.

Potential calibration (``calibrate_potentials``) moves the same error into each neuron's
initial potential instead, per neuron rather than per channel, scaled by T (a charge given
once rather than a current given every step):

    u_n ← u_n + T · mean over images of ( a_n  −  θ · count_n / T )

(the authors' ``emp_bias_corr(correct_mempot=True)``; the neurons start at ``φ·θ + u``). The
paper's "advanced" pipeline adds a layer-wise weight calibration; the authors' CIFAR script
runs the potential calibration alone ("calibrating the potential only achieves best results"
there, the weight calibration commented out), which is what ``calibration="advanced"`` of the
latency recipes runs. The weight calibration is ``neurosnn.conversion.weightcal``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from neurosnn.conversion.calibrate import batches_of
from neurosnn.errors import UserError
from neurosnn.simulation.module import SNNModule
from neurosnn.snn.network import ConvertedSNN


def _channel_sum(act: torch.Tensor) -> torch.Tensor:
    """Per-channel mean over positions, summed over the batch: ``[C]``."""
    if act.dim() > 2:
        act = act.flatten(2).mean(2)
    return act.sum(0)


def _biased_op(snn: ConvertedSNN, name: str) -> nn.Conv2d | nn.Linear:
    """The Conv2d/Linear that ends the first incoming connection of ``name`` ending in one
    (the main path at a residual merge: the shortcut is listed after it, or has no weights)."""
    for _, conn in snn.incoming(name):
        ops = list(conn.ops)
        if ops and isinstance(ops[-1], nn.Conv2d | nn.Linear):
            return ops[-1]
    raise UserError(f"bias calibration: no connection into layer {name} ends in a Conv2d/Linear")


@torch.no_grad()
def _snn_sums(snn: ConvertedSNN, images: list[torch.Tensor], timesteps: int, name: str, reduce):
    """``reduce`` (per channel or per neuron, summed over the batch) of ``θ · count / T`` of
    layer ``name`` over ``images``."""
    net = SNNModule(snn, delay="none")
    theta = snn.thresholds[snn.if_names.index(name)]
    total = None
    for x in images:
        part = reduce(spike_counts(net, x, timesteps, [name])[name])
        total = part if total is None else total + part
    return total * theta / timesteps


@torch.no_grad()
def spike_counts(net, x: torch.Tensor, timesteps: int, names) -> dict[str, torch.Tensor]:
    """Each named IF layer's spikes per neuron over ``timesteps`` steps of the SNN module
    ``net`` (reset first) on the constant input ``x``."""
    net.reset()
    counts: dict[str, torch.Tensor] = {}
    for _ in range(timesteps):
        net(x)
        for name in names:
            step = net.spikes[name].float()
            counts[name] = counts[name] + step if name in counts else step
    return counts


def _neuron_sum(act: torch.Tensor) -> torch.Tensor:
    """Per-neuron sum over the batch: the layer's shape."""
    return act.sum(0)


def _ann_sums(snn: ConvertedSNN, images: list[torch.Tensor], reduce) -> dict[str, torch.Tensor]:
    """``reduce`` of each IF layer's ANN activation over ``images``."""
    targets: dict[str, torch.Tensor] = {}
    for x in images:
        for name, _, act in snn.ann_forward(x):
            if name != snn.output_name:
                part = reduce(act)
                targets[name] = targets[name] + part if name in targets else part
    return targets


def _checked_images(batches: Iterable, timesteps: int, snn: ConvertedSNN, what: str):
    if int(timesteps) != timesteps or timesteps < 1:
        raise UserError(f"{what}: timesteps must be an integer >= 1, got {timesteps}")
    images = [x.to(snn.device) for x in batches_of(batches)]
    if sum(len(x) for x in images) == 0:
        raise UserError(f"{what}: no images given")
    return images


@torch.no_grad()
def calibrate_biases(
    snn: ConvertedSNN, batches: Iterable, timesteps: int
) -> dict[str, torch.Tensor]:
    """Li et al.'s bias calibration, in place: each IF layer's bias (per channel) moves by the
    mean error between its ANN activation and its SNN output over ``timesteps`` steps.

    Args:
        snn: the converted SNN, with the thresholds and φ it will run with.
        batches: training images ``[B, C, H, W]`` (tensors or ``(x, y)`` pairs, e.g. a
            ``DataLoader``); the paper uses about a thousand, the authors' code 128.
        timesteps: T at which the SNN will be read (its flooring error depends on it).

    Returns:
        The correction added to each layer's bias (``[C]`` per layer, in ANN units).
    """
    images = _checked_images(batches, timesteps, snn, "bias calibration")
    n = sum(len(x) for x in images)
    targets = _ann_sums(snn, images, _channel_sum)  # before any bias moves
    corrections = {}
    for name in snn.if_names:  # topological order: later layers see the corrected ones
        op = _biased_op(snn, name)
        error = (targets[name] - _snn_sums(snn, images, timesteps, name, _channel_sum)) / n
        if op.bias is None:
            op.bias = nn.Parameter(torch.zeros_like(error))
        op.bias.add_(error.to(op.bias.dtype))
        corrections[name] = error
    return corrections


@torch.no_grad()
def calibrate_potentials(
    snn: ConvertedSNN, batches: Iterable, timesteps: int
) -> dict[str, torch.Tensor]:
    """Li et al.'s potential calibration, in place: layer by layer, each neuron's initial
    potential (``snn.offsets``, added to ``φ·θ``) moves by T times the mean error between its
    ANN activation and its SNN output over ``timesteps`` steps.

    Args:
        snn: the converted SNN, with the thresholds and φ it will run with.
        batches: training images (tensors or ``(x, y)`` pairs); the authors' code: 128.
        timesteps: T at which the SNN will be read.

    Returns:
        The change of each layer's initial potentials (the layer's shape, ANN units).
    """
    images = _checked_images(batches, timesteps, snn, "potential calibration")
    n = sum(len(x) for x in images)
    targets = _ann_sums(snn, images, _neuron_sum)
    changes = {}
    for name in snn.if_names:  # topological order: later layers see the calibrated ones
        error = (targets[name] - _snn_sums(snn, images, timesteps, name, _neuron_sum)) / n
        change = (error * timesteps).float()
        snn.set_offsets({name: snn.layer(name).offset + change.to(snn.device)})
        changes[name] = change
    return changes
