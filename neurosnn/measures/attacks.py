"""Adversarial inputs and per-layer noise sensitivity (Lu & Sengupta, Section IV-B and V).

FGSM, Eq. 16 (Goodfellow et al. 2015): ``x̂ = x + ε·sign(∇ₓ L(w, x, y))``, white-box on the ANN
(the converted SNN shares its weights), with ``x`` in pixel units [0, 1] before the dataset's
normalisation and ``x̂`` clamped to that range.

Adversarial noise sensitivity (ANS) of layer n, Eq. 14 (Panda, QUANOS 2020):
``A_n = ‖a_adv − a‖₂ / ‖a‖₂`` on the layer's activation map; for the SNN, Eq. 15, on the
cumulative spike counts ``Σ_t x_t`` over the T steps. Computed per image and averaged over a
dataset (images whose clean activation is all zero have no ANS and are left out, counted).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from neurosnn.conversion.pipeline import ann_graph
from neurosnn.io.data import TensorSplit
from neurosnn.simulation.engine.fast import run_blocks
from neurosnn.snn.network import ConvertedSNN

Activations = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # batch -> {layer: [B, ...]}


def parse_epsilon(text: str) -> float:
    """``"8/255"`` or ``"0.03"`` → float in [0, 1]."""
    num, sep, den = text.partition("/")
    try:
        value = float(num) / (float(den) if sep else 1.0)
    except (ValueError, ZeroDivisionError) as err:
        raise ValueError(
            f"epsilon must be a number or a fraction like 8/255, got {text!r}"
        ) from err
    if not 0 <= value <= 1:
        raise ValueError(f"epsilon must be in [0, 1] (pixel units), got {text!r}")
    return value


def fgsm(
    model: nn.Module,
    pixels: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> torch.Tensor:
    """FGSM (Eq. 16) on a batch of pixel images ``[B, C, H, W]`` in [0, 1].

    The loss is the cross entropy of ``model((x − mean) / std)``; the model runs in eval mode
    and is left in the mode it was in, and no gradient reaches its parameters.

    Returns:
        The adversarial pixel images, ``|x̂ − x| ≤ ε`` and within [0, 1].
    """
    if not (math.isfinite(epsilon) and 0 <= epsilon <= 1):
        raise ValueError(f"epsilon must be in [0, 1] (pixel units), got {epsilon}")
    was_training = model.training
    model.eval()
    try:
        x = pixels.detach().float().clone().requires_grad_(True)
        m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
        with torch.enable_grad():
            loss = F.cross_entropy(model((x - m) / s), labels.to(x.device))
            (grad,) = torch.autograd.grad(loss, x)
    finally:
        model.train(was_training)
    return (pixels.float() + epsilon * grad.sign()).clamp(0.0, 1.0).detach()


def fgsm_split(
    model: nn.Module,
    split: TensorSplit,
    epsilon: float,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> TensorSplit:
    """The adversarial version of a whole split, image by image with its own label.

    When the split holds uint8 images and ε is a whole number of grey levels (8/255), the
    result is uint8 too, exactly ``clamp(k ± 255·ε, 0, 255)``; otherwise float pixels.
    """
    model = model.to(device)
    levels = epsilon * 255
    on_grid = split.images.dtype == torch.uint8 and abs(levels - round(levels)) < 1e-6
    out = []
    for start in tqdm(
        range(0, len(split), batch_size),
        desc=f"FGSM eps={epsilon:.4g}",
        disable=None if progress else True,
        leave=False,
    ):
        images = split.images[start : start + batch_size]
        pixels = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        adv = fgsm(
            model,
            pixels.to(device),
            split.labels[start : start + batch_size],
            epsilon,
            split.mean,
            split.std,
        ).cpu()
        out.append((adv * 255).round().to(torch.uint8) if on_grid else adv)
    return TensorSplit(torch.cat(out), split.labels.clone(), split.mean, split.std)


@dataclass
class NoiseSensitivity:
    """Per-layer ANS over a dataset.

    Attributes:
        layers: layer names in forward order.
        mean: mean ANS of each layer over the images.
        std: standard deviation over the images.
        images: images that count for each layer (clean activation not all zero).
    """

    layers: list[str]
    mean: list[float]
    std: list[float]
    images: list[int]

    def as_dict(self) -> dict[str, list]:
        return {"layers": self.layers, "mean": self.mean, "std": self.std, "images": self.images}


def ans(clean: torch.Tensor, adversarial: torch.Tensor) -> torch.Tensor:
    """Eq. 14/15 per image: ``‖a_adv − a‖₂ / ‖a‖₂`` of ``[B, ...]`` maps; NaN where ``a = 0``."""
    a, b = clean.flatten(1).double(), adversarial.flatten(1).double()
    norm = a.norm(dim=1)
    ratio = (b - a).norm(dim=1) / norm
    return torch.where(norm > 0, ratio, torch.full_like(ratio, math.nan))


@torch.no_grad()
def noise_sensitivity(
    activations: Activations, pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> NoiseSensitivity:
    """ANS of every layer ``activations`` returns, over ``(clean, adversarial)`` batches."""
    per_layer: dict[str, list[torch.Tensor]] = {}
    for clean, adv in pairs:
        a, b = activations(clean), activations(adv)
        for name in a:
            per_layer.setdefault(name, []).append(ans(a[name], b[name]))
    if not per_layer:
        raise ValueError("no data for the noise sensitivity")
    layers, mean, std, images = list(per_layer), [], [], []
    for name in layers:
        values = torch.cat(per_layer[name])
        values = values[~values.isnan()]
        images.append(len(values))
        mean.append(float(values.mean()) if len(values) else math.nan)
        std.append(float(values.std(correction=0)) if len(values) else math.nan)
    return NoiseSensitivity(layers, mean, std, images)


def ann_activations(model: nn.Module, input_shape: tuple[int, ...]) -> Activations:
    """Each hidden layer's activation (ReLU or QCFS), named like the converted SNN's IF
    layers (at a residual sum, the activation after it)."""
    graph = ann_graph(model, input_shape)

    def activations(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: a for n, _, a in graph.ann_forward(x.cpu().float()) if n != graph.output}

    return activations


def snn_spike_totals(
    snn: ConvertedSNN, timesteps: int, delay: str = "layer", bias_onset: str = "always"
) -> Activations:
    """Each IF layer's spike count per neuron over T steps, ``Σ_t x_t`` (Eq. 15), with the
    SNN's current thresholds and initial potentials and constant-current input."""

    def activations(x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = x.to(snn.device, torch.float32)
        theta, phi = snn.per_sample(len(x))
        totals = {n: torch.zeros(len(x), *snn.layer(n).shape) for n in snn.if_names}
        blocks = run_blocks(snn, x, timesteps, theta, phi=phi, delay=delay, bias_onset=bias_onset)
        for block in blocks:
            for name, s in block.spikes.items():
                totals[name] += s.ne(0).sum(0, dtype=torch.float32).cpu()
        return totals

    return activations
