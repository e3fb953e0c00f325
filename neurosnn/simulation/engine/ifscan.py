"""The IF recurrence over a block of timesteps, fused into one pass (Eq. 1–2 of Lu & Sengupta).

For each neuron, over t = 0 … τ−1:

    V += x[t];   s[t] = θ_b if V >= θ_b else 0;   V -= s[t]

``s`` is *threshold-valued* (a spike stands for θ, Eq. 6), so the next layer applies the ANN's
own weights to it. ``x[t]`` is the current of step t; with ``shift`` the recurrence reads the
current one step late (``first`` at t = 0, then ``x[t−1]``): the per-layer delay of bindsnet's
synchronous ``Network.run``. A current block of length 1 is held constant over the block
(constant-current input).

Three implementations with the same float32 arithmetic (so the same spikes): a torch loop, on
any device; a numba kernel on CPU and a Triton kernel on CUDA
(``neurosnn.simulation.engine.ifscan_triton``), each keeping a neuron's potential in a register over
the block and touching the currents once (the torch loop makes four passes a step).
"""

from __future__ import annotations

from typing import Literal

import torch

from neurosnn.simulation.engine import ifscan_triton

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


def _scan_torch_(currents, v, theta, out, first, shift) -> torch.Tensor:
    th = theta.view(-1, 1)
    for t in range(len(out)):
        v.add_(_row(currents, first, t, shift))
        torch.ge(v, th, out=out[t])
        out[t].mul_(th)
        v.sub_(out[t])
    return torch.count_nonzero(out, dim=-1)


if numba is not None:

    @numba.njit(parallel=True, cache=True)
    def _scan_kernel(currents, first, v, theta, out, counts, shift):  # pragma: no cover - jit
        tau, batch, n = out.shape
        tasks = counts.shape[2]
        per_task = (n + tasks - 1) // tasks
        constant = currents.shape[0] == 1
        zero = np.float32(0.0)
        for item in numba.prange(batch * tasks):
            b, task = item // tasks, item % tasks
            lo = task * per_task
            hi = min(n, lo + per_task)
            th = theta[b]
            vb = v[b, lo:hi]  # 1-D slices: the inner loop vectorises (3x faster than 2-D indexing)
            for t in range(tau):
                r = t - shift
                src = first[b, lo:hi] if r < 0 else currents[0 if constant else r, b, lo:hi]
                ob = out[t, b, lo:hi]
                fired = 0
                for j in range(hi - lo):
                    u = vb[j] + src[j]
                    spike = u >= th
                    s = th if spike else zero
                    ob[j] = s
                    vb[j] = u - s
                    fired += spike
                counts[t, b, task] = fired


def _scan_numba_(currents, v, theta, out, first, shift) -> torch.Tensor:
    tau, batch, n = out.shape
    tasks = max(1, min(-(-n // NEURONS_PER_TASK), -(-4 * numba.get_num_threads() // batch)))
    counts = torch.empty(tau, batch, tasks, dtype=torch.int32)
    _scan_kernel(
        currents.contiguous().numpy(),
        (v if first is None else first.contiguous()).numpy(),  # unused unless shifting
        v.numpy(),
        theta.contiguous().numpy(),
        out.numpy(),
        counts.numpy(),
        int(shift),
    )
    return counts.sum(-1, dtype=torch.int64)


def set_threads(threads: int) -> None:
    """Run torch's operations and the numba kernels on ``threads`` threads (a worker that
    shares its machine with others: numba would otherwise take every core)."""
    torch.set_num_threads(threads)
    if numba is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _float32(*tensors: torch.Tensor) -> bool:
    return all(x.dtype == torch.float32 for x in tensors)


def _numba_can_run(currents, v, theta, out) -> bool:
    return (
        numba is not None
        and not torch.compiler.is_compiling()  # the compiler cannot trace numba: torch's loop
        and out.device.type == "cpu"
        and _float32(currents, v, theta, out)
        and out.is_contiguous()
        and v.is_contiguous()
    )


def if_scan_(
    currents: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor,
    out: torch.Tensor,
    first: torch.Tensor | None = None,
    shift: bool = False,
) -> torch.Tensor:
    """``if_scan`` updating ``v`` in place (for an engine's own state); returns the counts."""
    if _numba_can_run(currents, v, theta, out):
        scan = _scan_numba_
    elif ifscan_triton.can_run(currents, v, theta, out):
        scan = ifscan_triton.scan_triton_
    else:
        scan = _scan_torch_
    return scan(currents, v, theta, out, first, shift)


IMPLS = {"torch": _scan_torch_, "numba": _scan_numba_, "triton": ifscan_triton.scan_triton_}


def if_scan(
    currents: torch.Tensor,
    v: torch.Tensor,
    theta: torch.Tensor,
    out: torch.Tensor,
    first: torch.Tensor | None = None,
    shift: bool = False,
    impl: Literal["auto", "torch", "numba", "triton"] = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the IF recurrence over a block.

    Args:
        currents: ``[τ or 1, B, N]``.
        v: ``[B, N]`` potential at the start of the block (not modified).
        theta: ``[B]`` threshold of each sample.
        out: ``[τ, B, N]`` receives the threshold-valued spikes (a buffer apart from
            ``currents``: writing in place defeats the numba kernel's vectorisation).
        first: ``[B, N]`` current of the block's first step when ``shift``.
        shift: read the currents one step late.
        impl: ``"auto"`` (numba on CPU, Triton on CUDA, for float32; else torch), ``"torch"``,
            ``"numba"`` or ``"triton"`` (on CPU tensors the Triton kernel runs in Triton's
            interpreter: slow, for checking the kernel without a GPU).

    Returns:
        ``(v at the end of the block [B, N], spikes per step and sample [τ, B] int64)``.
    """
    if impl != "auto" and impl not in IMPLS:
        raise ValueError(f"impl must be 'auto' or one of {sorted(IMPLS)}, got {impl!r}")
    v = v.clone()
    if impl == "auto":
        return v, if_scan_(currents, v, theta, out, first, shift)
    if impl == "numba" and not _numba_can_run(currents, v, theta, out):
        raise ValueError("the numba scan needs numba and contiguous float32 CPU tensors")
    if impl == "triton" and not _float32(currents, v, theta, out):
        raise ValueError("the triton scan needs float32 tensors")
    return v, IMPLS[impl](currents, v, theta, out, first, shift)
