"""Local threshold balancing (Bu, Li & Yu, "Inference-scale complexity in ANN-SNN conversion
for high-performance and low-power applications", CVPR 2025; code putshua/Inference-scale-ANN-SNN):
training-free thresholds, one per channel of a convolutional layer and one per feature of a
fully connected one, learnt on a few batches of training images.

Every activation is replaced by a clip ``clip(z, 0, θ)`` with θ starting at 0, and each batch
takes one gradient step of the clipping loss ``E[((z − θ)⁺)²]`` per channel, layer by layer in
the forward order (each layer sees the clipped outputs of the layers before it, with their
thresholds of this step):

    θ ← θ + c · 2 · mean((z − θ)⁺),   the mean over the batch and the positions of a channel,

then the layer's output is ``clip(z, 0, θ)`` with the new θ. The authors run it with c = 1 on
12 batches of 100 training images (``weight_scaling_iter``, ``iter = 10``: batches 0 to 11)
and start the neurons at θ/2. The paper's text is not among ../shared/papers; this follows the
released code (``SpikingNeuron4d.optimize``, ``SpikingNeuron2d.optimize``).

The thresholds are folded into the weights as channel-wise thresholds are
(``neurosnn.conversion.thresholds.rescale_channels``), so every layer keeps one threshold, 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neurosnn.conversion.options import BALANCE_ITERATIONS
from neurosnn.errors import UserError
from neurosnn.snn.graph import SNNGraph

ITERATIONS = BALANCE_ITERATIONS  # the authors' batches (iter = 10: batches 0 to 11)
BATCH_SIZE = 100  # the authors' batch size
RATE = 1.0  # the authors' c


class _Balancing(nn.Module):
    """A clip whose per-channel threshold takes one step of the clipping loss per call."""

    def __init__(self, channels: int, rate: float) -> None:
        super().__init__()
        self.theta = torch.zeros(channels, dtype=torch.float64)
        self.rate = rate

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        per_channel = z.transpose(0, 1).flatten(1).double()  # [C, B·positions]
        excess = (per_channel - self.theta.unsqueeze(1)).clamp_min(0)
        self.theta = self.theta + self.rate * 2 * excess.mean(1)
        theta = self.theta.to(z.dtype).view(-1, *(1,) * (z.dim() - 2))
        return torch.minimum(z.clamp_min(0), theta)


@torch.no_grad()
def balance_thresholds(
    graph: SNNGraph,
    images: Sequence[torch.Tensor],
    iterations: int = ITERATIONS,
    batch_size: int = BATCH_SIZE,
    rate: float = RATE,
) -> dict[str, torch.Tensor]:
    """Each IF layer's balanced thresholds: ``[C]`` for a layer with channels (``[C, H, W]``)
    or features (``[F]``), in the ANN's units.

    Args:
        graph: the ANN's graph (ReLU activations).
        images: normalised training images, in batches of any size; they are re-batched to
            ``batch_size`` and taken in order, from the start again when ``iterations`` needs
            more batches than they hold.
        iterations: update steps (the authors: 12).
        batch_size: images per step (the authors: 100).
        rate: the step size c (the authors: 1).
    """
    if iterations < 1 or batch_size < 1:
        raise UserError(f"iterations and batch_size must be >= 1, got {iterations}, {batch_size}")
    if not rate > 0:
        raise UserError(f"rate must be > 0, got {rate}")
    hidden = graph.nodes[:-1]
    for node in hidden:
        if not isinstance(node.activation, nn.ReLU):
            raise UserError(
                f"balanced thresholds: layer {node.name} ends in "
                f"{type(node.activation).__name__}, not a ReLU (a QCFS network has its "
                "trained thresholds)"
            )
    clips = {n.name: _Balancing(n.shape[0], rate) for n in hidden}
    data = torch.cat(list(images))
    per_pass = -(-len(data) // batch_size)
    for step in range(iterations):
        i = step % per_pass
        x = data[i * batch_size : (i + 1) * batch_size]
        for _ in graph.ann_forward(x, clips):
            pass
    return {name: clip.theta for name, clip in clips.items()}
