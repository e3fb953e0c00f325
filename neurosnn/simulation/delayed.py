"""Delayed evaluation's k, chosen on training images.

With delayed evaluation the prediction at step t > k is the argmax of the output potential
gained after step k, ``V(t) − V(k)`` (``simulate(readout_after=k)``): the early steps, while
the layers are still filling, do not vote. Bu, Li & Yu (CVPR 2025; code
putshua/Inference-scale-ANN-SNN, ``snn_inference``) tabulate the accuracy of every window
[i, j] of steps and read the SNN from a delay computed from the network; neurosnn chooses k
on training images instead: the k whose curve reaches the target (the ANN's accuracy on those
images − 1%) at the earliest step t, counting the k steps (t > k). One run of the images
gives every k's curve.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from neurosnn.errors import UserError
from neurosnn.simulation.curve import iso_accuracy_step
from neurosnn.simulation.module import SNNModule
from neurosnn.snn.network import ConvertedSNN


def delayed_correct(outputs: torch.Tensor, labels: torch.Tensor, k: int) -> np.ndarray:
    """``[T]`` the images right at each step t when the readout ignores the first ``k`` steps
    (none up to step k; ``simulate(readout_after=k).correct``); ``outputs [T, B, classes]``
    the output potential after each step."""
    T = len(outputs)
    if not 0 <= k < T:
        raise UserError(f"k must be in [0, T) = [0, {T}), got {k}")
    read = outputs[k:] - outputs[k - 1] if k > 0 else outputs
    # an output that has gained nothing yet answers nothing (as simulate counts)
    right = (read.argmax(2) == labels.to(outputs.device)) & read.ne(0).any(2)
    return np.concatenate([np.zeros(k), right.sum(1).cpu().numpy()])


@torch.no_grad()
def choose_readout_after(
    snn: ConvertedSNN,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    timesteps: int,
    target: float,
    delay: str = "none",
    bias_onset: str = "always",
    max_k: int | None = None,
) -> tuple[int, dict[int, int | None]]:
    """The readout delay k in ``[0, max_k]`` (default ``timesteps // 2``) whose accuracy
    first reaches ``target`` (a fraction), ties to the smaller k; and each k's step (None:
    not within ``timesteps``). Without any k reaching it: the k with the highest accuracy at
    ``timesteps``."""
    max_k = timesteps // 2 if max_k is None else max_k
    if not 0 <= max_k < timesteps:
        raise UserError(f"max_k must be in [0, T) = [0, {timesteps}), got {max_k}")
    net = SNNModule(snn, delay=delay, bias_onset=bias_onset)
    correct = np.zeros((max_k + 1, timesteps))
    n = 0
    for x, y in batches:
        out = net.run(x, timesteps)
        for k in range(max_k + 1):
            correct[k] += delayed_correct(out, y, k)
        n += len(y)
    if n == 0:
        raise UserError("choose_readout_after: no images given")
    accuracy = correct / n
    steps = {k: iso_accuracy_step(accuracy[k], target) for k in range(max_k + 1)}
    reached = [k for k in steps if steps[k] is not None]
    if reached:
        best = min(reached, key=lambda k: (steps[k], k))
    else:
        best = int(np.argmax(accuracy[:, -1]))
    return best, steps
