"""Competition between the feature maps of an STDP layer and its measures
(``neurosnn.learn.stdp``): the LIF scan with lateral inhibition across maps (Masquelier &
Thorpe 2007), k winners-take-all across maps (Kheradpisheh et al. 2018, §2.3), the kernels'
normalisation and decorrelation, and how alike and how settled the kernels are."""

from __future__ import annotations

import torch


def lif_scan(
    current: torch.Tensor,
    v: torch.Tensor,
    theta: float | torch.Tensor,
    leak: torch.Tensor,
    inhibit: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LIF over the leading time axis: ``current [τ, B, C, H, W]``, potential ``v [B, C, H, W]``
    → ``(spikes [τ, B, C, H, W] float 0/1, new v)``; the same operations as ``LIFNodes.forward``.
    ``theta``: one threshold, or one per map ``[C, 1, 1]``.

    ``inhibit``: lateral inhibition across feature maps — at each position and step only the
    map with the highest potential may fire (the others keep their potential)."""
    spikes = torch.empty_like(current)
    for t in range(len(current)):
        v = v * leak + current[t]
        s = v >= theta
        if inhibit:
            s &= v == v.amax(dim=1, keepdim=True)
        spikes[t] = s
        v = v.masked_fill(s, 0.0)
    return spikes, v


def winners(post: torch.Tensor, k: int) -> torch.Tensor:
    """k winners-take-all across feature maps: ``[B, C]`` 0/1, per image the ``k`` maps that
    fired most in the window ``post [τ, B, C, H, W]`` (maps that did not fire never win).

    Kheradpisheh et al. (2018, §2.3) let the k earliest-firing neurons learn, at most one per
    map, each inhibiting the others of its map and its neighbourhood in all maps; with rate-coded
    windows the earliest spike is the most spikes, so the k maps that fired most learn and the
    others' spikes are left out of the update (they still drive the next layer and the
    thresholds)."""
    fired = post.sum((0, 3, 4))
    top = fired.topk(min(k, fired.shape[1]), dim=1).indices
    return torch.zeros_like(fired).scatter_(1, top, 1.0) * (fired > 0)


def normalise_kernels(w: torch.Tensor, norm: float) -> torch.Tensor:
    """Each output kernel ``w[o]`` at zero mean and L2 norm ``norm`` (a new tensor)."""
    centred = w - w.mean(dim=(1, 2, 3), keepdim=True)
    return centred * (norm / centred.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, 1, 1, 1)


def decorrelate(w: torch.Tensor, rate: float) -> torch.Tensor:
    """One step that pushes the output kernels of ``w [O, C, k, k]`` apart (a new tensor): with
    ``u_o`` each kernel at unit norm, ``u_o ← u_o − rate·Σ_{p≠o} (u_o·u_p)·u_p``, then each kernel
    back at its own norm.

    The step is the gradient of ¼·Σ_{o≠p} (u_o·u_p)², the summed squared cosines, taken at fixed
    norms: the penalty anti-Hebbian lateral weights minimise between competing units (Földiák
    1990, "Forming sparse representations by local anti-Hebbian learning"), applied here to the
    kernels themselves rather than learned as lateral connections. Zero-mean kernels stay zero
    mean; mutually orthogonal kernels do not move."""
    flat = w.flatten(1)
    norm = flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    u = flat / norm
    cos = u @ u.T
    cos.fill_diagonal_(0.0)
    return ((u - rate * (cos @ u)) * norm).view_as(w)


def kernel_similarity(w: torch.Tensor) -> float:
    """Mean |cosine| between the distinct output kernels of ``w [O, C, k, k]``: 0 for orthogonal
    kernels, 1 when all are the same feature up to sign (the collapse competition prevents)."""
    if len(w) < 2:
        raise ValueError(f"need at least two kernels, got {len(w)}")
    u = w.flatten(1) / w.flatten(1).norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = (u @ u.T).abs()
    return float((cos.sum() - cos.diagonal().sum()) / (len(w) * (len(w) - 1)))


def kernel_change(before: torch.Tensor, after: torch.Tensor) -> float:
    """Mean over the output kernels of ``‖after[o] − before[o]‖ / ‖before[o]‖``: how far an
    update moved the kernels (0 once they have converged)."""
    diff = (after - before).flatten(1).norm(dim=1)
    return float((diff / before.flatten(1).norm(dim=1).clamp_min(1e-12)).mean())


def settled(series: list[float]) -> float:
    """The mean of a series' last tenth (at least its last value): where a measure settled."""
    n = max(1, len(series) // 10)
    return sum(series[-n:]) / n
