"""PCA layer significance (Lu & Sengupta, Sec. IV-A, Eq. 12–13, Fig. 2a).

A layer's pre-activation feature maps over B images are flattened to a K×F matrix Q (K = B·H·W
positions, F = channels; K = B, F = features for a linear layer). The principal components are
the eigenvectors of the centred QᵀQ; k is the smallest number of components whose eigenvalues
(the squared singular values λᵢ² of Eq. 13) explain a ratio R (99.9%) of the variance. A
layer's significance is the % change of k from the previous layer (the input for the first).
The Gram matrix is accumulated batch by batch, so memory is F×F per layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from neurosnn.snn.network import ConvertedSNN


def components_for_ratio(eigenvalues: np.ndarray, ratio: float) -> int:
    """Smallest k whose k largest eigenvalues hold ``ratio`` of their sum (Eq. 13)."""
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    ev = np.sort(np.clip(np.asarray(eigenvalues, dtype=np.float64), 0, None))[::-1]
    total = ev.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(ev) / total, ratio - 1e-12) + 1)


class _Gram:
    """Running K, Σq and QᵀQ of rows q ∈ R^F, in float64."""

    def __init__(self) -> None:
        self.n, self.sum, self.gram = 0, None, None

    def add(self, rows: torch.Tensor) -> None:  # [K, F]
        rows = rows.double()
        if self.sum is None:
            self.sum = torch.zeros(rows.shape[1], dtype=torch.float64)
            self.gram = torch.zeros(rows.shape[1], rows.shape[1], dtype=torch.float64)
        self.n += rows.shape[0]
        self.sum += rows.sum(0).cpu()
        self.gram += (rows.T @ rows).cpu()

    def eigenvalues(self) -> np.ndarray:
        mean = self.sum / self.n
        cov = (self.gram - self.n * torch.outer(mean, mean)) / max(self.n - 1, 1)
        return torch.linalg.eigvalsh(cov).numpy()


def _rows(a: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] → [B·H·W, C]; [B, F] stays."""
    if a.dim() == 4:
        return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])
    return a.reshape(a.shape[0], -1)


@dataclass
class Significance:
    layers: list[str]
    components: list[int]  # k per layer
    input_components: int
    ratio: float
    previous: list[int] | None = None  # per layer, the index of the one before (-1: input)

    @property
    def percent_change(self) -> list[float]:
        """% change of k from the previous layer (the input for the first layer)."""
        previous = self.previous or list(range(-1, len(self.layers) - 1))
        prev = [self.input_components if i < 0 else self.components[i] for i in previous]
        return [
            100.0 * (k - p) / p if p else float("nan")
            for k, p in zip(self.components, prev, strict=True)
        ]


@torch.no_grad()
def layer_significance(
    snn: ConvertedSNN, batches: Iterable[torch.Tensor], ratio: float = 0.999
) -> Significance:
    """Principal components of each IF layer's pre-activations on the ANN the SNN came from.

    Args:
        snn: the converted network (its connections hold the ANN's operators).
        batches: normalised input batches ``[B, C, H, W]``.
        ratio: variance the components must explain (R of Eq. 13; 99.9% in the paper).
    """
    names = snn.if_names
    grams = {n: _Gram() for n in names}
    inputs = _Gram()
    for x in batches:
        h = x.to(snn.device, torch.float32)
        inputs.add(_rows(h))
        for name, pre, _ in snn.ann_forward(h):  # the ANN's stages: unscaled weights
            if name in grams:
                grams[name].add(_rows(pre))
    if inputs.n == 0:
        raise ValueError("layer_significance needs at least one batch")
    index = {n: i for i, n in enumerate(names)}
    return Significance(
        layers=list(names),
        components=[components_for_ratio(grams[n].eigenvalues(), ratio) for n in names],
        input_components=components_for_ratio(inputs.eigenvalues(), ratio),
        ratio=ratio,
        previous=[max(index.get(s, -1) for s in snn.sources(n)) for n in names],
    )


def correlation(a: list[float], b: list[float]) -> float:
    """Pearson correlation (NaN when either side is constant)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
