"""The residual error of noise-quantised (NQ) training: how far each layer's converted SNN rate
lies from its QCFS activation, measured on the network's own modules.

The network runs its T steps *time-batched*: the input repeated T times along the batch
(time-major, ``[T·B, …]``), every convolution, BatchNorm (eval), pooling and sum applied to all
steps at once, and each NQ activation replaced by subtractive-reset IF neurons with threshold λ
and initial potential λ/2 over the T steps (Bu et al.'s φ = 1/2):

    V ← V + x[t];   s[t] = λ if V ≥ λ else 0;   V ← V − s[t],

threshold-valued spikes feeding the next layer. This is the converted SNN without the layer
delay (``convert(thresholds="trained", phi=0.5)``, ``simulate(delay="none")``), spike for
spike (tests/test_nq.py). A second, plain pass gives each layer's QCFS output ĥ on the same
images; the residual of layer l is the standard deviation of ĥ_l − r_l, r_l = Σ_t s[t] / T,
over every neuron and image (the authors' code averages per-batch variances of their
validation batches; one set of images gives the same figure up to the batch split).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from neurosnn.errors import UserError
from neurosnn.networks.blocks import NQ

log = logging.getLogger(__name__)


def nq_layers(model: nn.Module) -> list[tuple[str, NQ]]:
    """The NQ activations of ``model``, in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, NQ)]


def _if_steps(x: torch.Tensor, threshold: torch.Tensor, steps: int) -> torch.Tensor:
    """IF neurons over the time-batched input ``x`` ``[T·B, …]``: threshold-valued spikes."""
    x = x.view(steps, -1, *x.shape[1:])
    v = torch.full_like(x[0], 0.5) * threshold
    out = torch.empty_like(x)
    for t in range(steps):
        v = v + x[t]
        spike = (v >= threshold).to(x.dtype) * threshold
        v = v - spike
        out[t] = spike
    return out.view(-1, *x.shape[2:])


@torch.no_grad()
def spiking_rates(model: nn.Module, images: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
    """Each NQ layer's SNN rate ``Σ_t s[t] / T`` ``[B, …]`` (in λ units, as ĥ) over ``steps``
    time-batched steps of ``model`` on ``images``, and ``"output"``: the classifier's summed
    output ``[B, classes]``."""
    layers = nq_layers(model)
    if not layers:
        raise UserError("the network has no NQ activation (train with --option activation=nq)")
    if any(isinstance(m, nn.MaxPool2d) for m in model.modules()):
        raise UserError("NQ's residual needs average pooling (max pooling of spikes differs)")
    rates: dict[str, torch.Tensor] = {}

    def spiking(name: str):
        def hook(module: NQ, inputs, _output):
            spikes = _if_steps(inputs[0], module.threshold, steps)
            rates[name] = spikes.view(steps, -1, *spikes.shape[1:]).mean(0)
            return spikes

        return hook

    was_training = model.training
    model.eval()
    handles = [m.register_forward_hook(spiking(n)) for n, m in layers]
    try:
        out = model(images.repeat(steps, *[1] * (images.dim() - 1)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    rates["output"] = out.view(steps, -1, *out.shape[1:]).sum(0)
    return rates


def _activations(model: nn.Module, layers, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each layer's activation output in a plain forward pass of ``x``."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        m.register_forward_hook(lambda _m, _i, o, n=n: outputs.__setitem__(n, o)) for n, m in layers
    ]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return outputs


@torch.no_grad()
def measure_residual(
    model: nn.Module, images: torch.Tensor, steps: int | None = None, batch_size: int = 256
) -> dict[str, float]:
    """Each NQ layer's residual σ_l = std(ĥ_l − r_l) at T = ``steps`` (default: the layers'
    ``levels``, as the authors' example), over ``images`` (normalised ``[N, C, H, W]``)."""
    layers = nq_layers(model)
    if steps is None:
        steps = layers[0][1].levels if layers else 1
    if not isinstance(steps, int) or steps < 1:
        raise UserError(f"steps must be a positive integer, got {steps!r}")
    sums = {n: torch.zeros(2, dtype=torch.float64) for n, _ in layers}
    count = {n: 0 for n, _ in layers}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size]
            rates = spiking_rates(model, x, steps)
            outputs = _activations(model, layers, x)
            for n, _ in layers:
                gap = (outputs[n] - rates[n]).double()
                sums[n] += torch.stack([gap.sum(), (gap * gap).sum()]).cpu()
                count[n] += gap.numel()
    finally:
        model.train(was_training)
    result = {}
    for n, _ in layers:
        mean = sums[n][0] / count[n]
        result[n] = float(torch.sqrt(torch.clamp(sums[n][1] / count[n] - mean * mean, min=0)))
    return result


def update_noise(model: nn.Module, images: torch.Tensor, steps: int | None = None) -> list[float]:
    """Measure every NQ layer's residual (``measure_residual``) and make it the layer's
    training noise σ_l; returns the σ in layer order."""
    sigmas = measure_residual(model, images, steps)
    for name, module in nq_layers(model):
        module.noise_std.fill_(sigmas[name])
    log.info("NQ residual per layer: %s", ", ".join(f"{s:.3g}" for s in sigmas.values()))
    return list(sigmas.values())
