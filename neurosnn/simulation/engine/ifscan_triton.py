"""The IF scan of ``neurosnn.simulation.engine.ifscan`` as one Triton kernel, for CUDA.

One program holds ``BLOCK`` neurons of one sample in registers for the whole block of τ steps:
the currents are read once and the spikes written once (the torch loop makes four passes over
memory a step, each its own kernel launch). The arithmetic is the step function's, in float32,
with no multiply to contract into an FMA (Eq. 1–2 of Lu & Sengupta, subtractive reset):

    u = v + x[t];   s[t] = θ_b if u >= θ_b else 0;   v = u − s[t]

so the spikes are the torch loop's bit for bit. With ``TRITON_INTERPRET=1`` set before this
module is imported, the same kernel source runs on CPU tensors in Triton's interpreter (slow; it
is how the tests check the kernel on a machine without a GPU).
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction
except ImportError:  # Triton ships with CUDA builds of torch; elsewhere the other scans serve
    triton = None

BLOCK = 1024  # neurons per program
NUM_WARPS = 4

if triton is not None:
    # sizes stay runtime values: Triton would otherwise make a size of 1 a compile-time constant
    @triton.jit(do_not_specialize=["tau", "batch", "n"])
    def _scan_kernel(
        cur_ptr,  # [τ or 1, B, N]
        first_ptr,  # [B, N] current of the block's first step (read when SHIFT)
        v_ptr,  # [B, N] potential, updated in place
        theta_ptr,  # [B]
        out_ptr,  # [τ, B, N] threshold-valued spikes
        counts_ptr,  # [τ, B] int32, zeroed: spikes per step and sample
        tau,
        batch,
        n,
        SHIFT: tl.constexpr,  # 1: step t reads the current of step t − 1
        CONSTANT: tl.constexpr,  # 1: one current row held over the block
        BLOCK: tl.constexpr,
    ):
        b = tl.program_id(0)
        offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        row = b.to(tl.int64) * n + offs
        plane = batch.to(tl.int64) * n  # elements per timestep
        th = tl.load(theta_ptr + b)
        v = tl.load(v_ptr + row, mask=mask, other=0.0)
        for t in range(tau):
            r = 0 if CONSTANT else tl.maximum(t - SHIFT, 0)
            # with SHIFT, step 0 reads the carried current instead of a row of the block
            src = tl.where(t < SHIFT, first_ptr + row, cur_ptr + r * plane + row)
            u = v + tl.load(src, mask=mask, other=0.0)
            s = tl.where(mask & (u >= th), th, 0.0)
            v = u - s
            tl.store(out_ptr + t * plane + row, s, mask=mask)
            tl.atomic_add(counts_ptr + t * batch + b, tl.sum((s != 0).to(tl.int32), axis=0))
        tl.store(v_ptr + row, v, mask=mask)


def available() -> bool:
    """Whether Triton is installed."""
    return triton is not None


def interpreted() -> bool:
    """Whether the kernel runs in Triton's interpreter (``TRITON_INTERPRET=1``): CPU tensors."""
    return triton is not None and isinstance(_scan_kernel, InterpretedFunction)


def can_run(currents, v, theta, out) -> bool:
    """Whether the compiled kernel runs these tensors: float32, contiguous, on one CUDA device."""
    tensors = (currents, v, theta, out)
    return (
        triton is not None
        and all(x.device.type == "cuda" and x.dtype == torch.float32 for x in tensors)
        and len({x.device for x in tensors}) == 1
    )


def scan_triton_(currents, v, theta, out, first, shift: bool) -> torch.Tensor:
    """The scan on ``v`` in place (shapes as ``neurosnn.simulation.engine.ifscan.if_scan``);
    returns the counts ``[τ, B]`` int64."""
    if triton is None:
        raise RuntimeError("the triton scan needs triton (it ships with CUDA builds of torch)")
    if out.device.type != "cuda" and not interpreted():
        raise ValueError(
            "the triton scan runs CUDA tensors (CPU ones only with TRITON_INTERPRET=1)"
        )
    if not v.is_contiguous():
        raise ValueError("the triton scan updates v in place: v must be contiguous")
    tau, batch, n = out.shape
    currents, theta = currents.contiguous(), theta.contiguous()
    first = currents[0] if first is None else first.contiguous()  # not read unless shifting
    spikes = (
        out if out.is_contiguous() else torch.empty_like(out, memory_format=torch.contiguous_format)
    )
    counts = torch.zeros(tau, batch, dtype=torch.int32, device=out.device)
    grid = (batch, triton.cdiv(n, BLOCK))
    _scan_kernel[grid](
        currents,
        first,
        v,
        theta,
        spikes,
        counts,
        tau,
        batch,
        n,
        SHIFT=int(shift),
        CONSTANT=int(len(currents) == 1),
        BLOCK=BLOCK,
        num_warps=NUM_WARPS,
        enable_fp_fusion=False,  # no multiply-add contraction, whatever Triton's default
    )
    if spikes is not out:
        out.copy_(spikes)
    return counts.long()
