"""Pooling of spike maps on CPU as numba kernels, equal to the torch operators to the bit.

* Average pooling: PyTorch's CPU kernel for NCHW float32 sums each window in row-major order,
  starting from zero, and divides by the window's size; ``avg_pool`` does the same sums in
  the same order, about 9× faster on 2 cores (one pass, parallel over maps, the inner loop
  vectorised; README, ``make bench``).
* Spike max pooling (``neurosnn.snn.synapses.SpikeMaxPool2d``): each window passes the spike
  of the input neuron that has fired most so far, the first such neuron in row-major order on
  a tie (the index ``max_pool2d`` returns). ``gated_max_pool`` counts and selects in one
  pass over a block of τ steps instead of a cumulative sum, ``max_pool2d`` with indices and a
  gather.

Handled on contiguous float32 CPU tensors: average pooling with a square window, stride equal
to it, no padding, no ceil mode (VGG's pools); spike max pooling with any square window,
stride and padding, ceil mode included (SqueezeNet's and GoogLeNet's overlapping
``MaxPool2d(3, 2, ceil_mode=True)``, ResNet's ``MaxPool2d(3, 2, 1)``): each window clipped to
the map as ``max_pool2d`` clips it. Anything else goes to the torch operators.
"""

from __future__ import annotations

import torch

from neurosnn.snn.synapses import SpikeMaxPool2d

try:
    import numba
    import numpy as np
except ImportError:  # numba is optional: torch's pooling does the same work
    numba = None


if numba is not None:

    @numba.njit(parallel=True, cache=True)
    def _pool_kernel(x, out, k):  # pragma: no cover - jit
        n, c, h, w = out.shape
        size = np.float32(k * k)
        zero = np.float32(0.0)
        for item in numba.prange(n * c):
            src, dst = x[item // c, item % c], out[item // c, item % c]
            for r in range(h):
                row = dst[r]
                if k == 2:  # VGG's pool, written out so the loop over j vectorises
                    top, bottom = src[2 * r], src[2 * r + 1]
                    for j in range(w):
                        acc = (zero + top[2 * j]) + top[2 * j + 1]
                        row[j] = ((acc + bottom[2 * j]) + bottom[2 * j + 1]) / size
                    continue
                for j in range(w):
                    acc = zero
                    for dr in range(k):
                        line = src[r * k + dr]
                        for dc in range(k):
                            acc += line[j * k + dc]
                    row[j] = acc / size

    @numba.njit(parallel=True, cache=True)
    def _gated_max_kernel(x, counts, out, k, stride, pad):  # pragma: no cover - jit
        tau, batch, c, h, w = x.shape
        ho, wo = out.shape[3], out.shape[4]
        for item in numba.prange(batch * c):
            b, ch = item // c, item % c
            cnt = counts[b, ch]
            for t in range(tau):
                src, dst = x[t, b, ch], out[t, b, ch]
                for r in range(h):
                    for j in range(w):
                        if src[r, j] != 0:
                            cnt[r, j] += 1
                for r in range(ho):
                    r0 = r * stride - pad  # the window clipped to the map, as max_pool2d's
                    r1, r0 = min(r0 + k, h), max(r0, 0)
                    for j in range(wo):
                        c0 = j * stride - pad
                        c1, c0 = min(c0 + k, w), max(c0, 0)
                        br, bc = r0, c0
                        best = cnt[br, bc]
                        for rr in range(r0, r1):
                            for cc in range(c0, c1):
                                if cnt[rr, cc] > best:  # strictly: the first max wins
                                    best, br, bc = cnt[rr, cc], rr, cc
                        dst[r, j] = src[br, bc]


def _square(size) -> int | None:
    return size if isinstance(size, int) else (size[0] if size[0] == size[1] else None)


def _window(m: torch.nn.AvgPool2d | SpikeMaxPool2d) -> int | None:
    """The window size if the kernels handle this pool, else None."""
    k, s, p = _square(m.kernel_size), _square(m.stride), m.padding
    plain = p in (0, (0, 0)) and not getattr(m, "ceil_mode", False)
    plain = plain and getattr(m, "divisor_override", None) is None
    return k if plain and k is not None and k == s else None


def _max_geometry(m: SpikeMaxPool2d) -> tuple[int, int, int] | None:
    """``(window, stride, padding)`` of a square spike max pool, None where the kernel does
    not take it (a rectangular window, stride or padding)."""
    k, s = _square(m.kernel_size), _square(m.stride)
    p = m.padding if isinstance(m.padding, int) else _square(m.padding)
    return None if None in (k, s, p) else (k, s, p)


def pooled_size(size: int, k: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """One output dimension of ``max_pool2d`` (torch's rule: with ``ceil_mode`` a last partial
    window counts only if it starts inside the input or its left padding)."""
    span = size + 2 * pad - k + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _fits(x: torch.Tensor) -> bool:
    return (
        numba is not None
        and not torch.compiler.is_compiling()  # the compiler cannot trace numba: torch's ops
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.is_contiguous()
        and not x.requires_grad
    )


def avg_pool(m: torch.nn.AvgPool2d, x: torch.Tensor) -> torch.Tensor:
    """``m(x)`` for ``x [N, C, H, W]``: the numba kernel on contiguous float32 CPU tensors,
    the module otherwise."""
    k = _window(m)
    if k is None or x.dim() != 4 or not _fits(x):
        return m(x)
    n, c, h, w = x.shape
    out = x.new_empty(n, c, h // k, w // k)
    _pool_kernel(x.numpy(), out.numpy(), k)
    return out


def gated_max_pool(
    m: SpikeMaxPool2d, x: torch.Tensor, counts: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A block of spike max pooling.

    Args:
        m: the pool (its window).
        x: ``[τ, B, C, H, W]`` threshold-valued spikes of the block, in time order.
        counts: ``[B, C, H, W]`` spikes of each input neuron before the block (None: none).

    Returns:
        ``(pooled [τ, B, C, H', W'], counts after the block)``.
    """
    counts = x.new_zeros(x.shape[1:]) if counts is None else counts.clone()
    geometry = _max_geometry(m)
    if geometry is None or x.dim() != 5 or not (_fits(x) and _fits(counts)):
        running = torch.cumsum(x.ne(0).to(x.dtype), 0) + counts  # integers: exact in float32
        pooled = m.gate(x.flatten(0, 1), running.flatten(0, 1))
        return pooled.view(*x.shape[:2], *pooled.shape[1:]), running[-1]
    tau, batch, c, h, w = x.shape
    ho, wo = (pooled_size(n, *geometry, m.ceil_mode) for n in (h, w))
    out = x.new_empty(tau, batch, c, ho, wo)
    _gated_max_kernel(x.numpy(), counts.numpy(), out.numpy(), *geometry)
    return out, counts
