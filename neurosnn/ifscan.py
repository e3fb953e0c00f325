"""The IF recurrence over a block of timesteps, fused into one pass (Eq. 1–2 of Lu & Sengupta).

For each neuron, over t = 0 … τ−1:

    V += x[t];   s[t] = θ_b if V >= θ_b else 0;   V -= s[t]

``s`` is *threshold-valued* (a spike stands for θ, Eq. 6), so the next layer applies the ANN's
own weights to it. ``x[t]`` is the current of step t; with ``shift`` the recurrence reads the
current one step late (``first`` at t = 0, then ``x[t−1]``): the per-layer delay of bindsnet's
synchronous ``Network.run``. A current block of length 1 is held constant over the block
(constant-current input).

Two implementations with the same float32 arithmetic (so the same spikes): a torch loop, on any
device; and a numba kernel on CPU that keeps each neuron's potential in a register over the
block and touches the currents once (the torch loop makes four passes a step).
"""

from __future__ import annotations

import torch

try:
    import numba
    import numpy as np
except ImportError:  # numba is optional: the torch loop does the same work
    numba = None

NEURONS_PER_TASK = 2048  # the numba kernel splits each sample's neurons into tasks this large


def _row(currents: torch.Tensor, first: torch.Tensor | None, t: int, shift: bool) -> torch.Tensor:
    r = t - int(shift)
    if r < 0:
        return first
    return currents[r if len(currents) > 1 else 0]


def if_scan_torch(
    currents: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor,
    out: torch.Tensor,
    first: torch.Tensor | None = None,
    shift: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch loop over the block.

    Args:
        currents: ``[τ or 1, B, N]``.
        v: ``[B, N]`` potential at the start of the block.
        theta: ``[B]`` threshold of each sample.
        out: ``[τ, B, N]`` receives the threshold-valued spikes (may be ``currents`` when not
            shifting).
        first: ``[B, N]`` current of the block's first step when ``shift``.
        shift: read the currents one step late.

    Returns:
        ``(v at the end of the block [B, N], spikes per step and sample [τ, B] int64)``.
    """
    th = theta.view(-1, 1)
    v = v.clone()
    for t in range(len(out)):
        v.add_(_row(currents, first, t, shift))
        torch.ge(v, th, out=out[t])
        out[t].mul_(th)
        v.sub_(out[t])
    return v, torch.count_nonzero(out, dim=-1)


if numba is not None:

    @numba.njit(parallel=True, cache=True)
    def _scan_kernel(currents, first, v, theta, out, counts, shift):  # pragma: no cover - jit
        tau, batch, n = out.shape
        tasks = counts.shape[2]
        per_task = (n + tasks - 1) // tasks
        constant = currents.shape[0] == 1
        zero = np.float32(0.0)
        for item in numba.prange(batch * tasks):
            b = item // tasks
            lo = (item % tasks) * per_task
            hi = min(n, lo + per_task)
            th = theta[b]
            for t in range(tau):
                r = t - shift
                src = first[b] if r < 0 else currents[0 if constant else r, b]
                fired = 0
                for j in range(lo, hi):
                    u = v[b, j] + src[j]
                    s = th if u >= th else zero
                    out[t, b, j] = s
                    v[b, j] = u - s
                    fired += s != zero
                counts[t, b, item % tasks] = fired


def if_scan_numba(
    currents: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor,
    out: torch.Tensor,
    first: torch.Tensor | None = None,
    shift: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`if_scan_torch` as one numba kernel (CPU, contiguous float32 tensors)."""
    tau, batch, n = out.shape
    tasks = max(1, min(-(-n // NEURONS_PER_TASK), -(-4 * numba.get_num_threads() // batch)))
    counts = torch.empty(tau, batch, tasks, dtype=torch.int32)
    v = v.contiguous().clone()
    first = v if first is None else first.contiguous()  # unused unless shifting
    _scan_kernel(
        currents.contiguous().numpy(),
        first.numpy(),
        v.numpy(),
        theta.contiguous().numpy(),
        out.numpy(),
        counts.numpy(),
        int(shift),
    )
    return v, counts.sum(-1, dtype=torch.int64)


def if_scan(
    currents: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor,
    out: torch.Tensor,
    first: torch.Tensor | None = None,
    shift: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused scan where numba can run it (CPU float32), the torch loop elsewhere."""
    usable = (
        numba is not None
        and out.device.type == "cpu"
        and out.dtype == currents.dtype == v.dtype == theta.dtype == torch.float32
        and out.is_contiguous()
    )
    scan = if_scan_numba if usable else if_scan_torch
    return scan(currents, v, theta, out, first, shift)
