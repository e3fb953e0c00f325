"""Average pooling on CPU as one numba kernel, equal to ``torch.nn.AvgPool2d`` to the bit.

PyTorch's CPU kernel for NCHW float32 sums each window in row-major order, starting from zero,
and divides by the window's size; this kernel does the same sums in the same order, so the
spikes downstream stay bindsnet's exactly. It runs the same work about 9× faster on 2 cores
(one pass, parallel over maps, the inner loop vectorised; README, ``make bench``), which
matters because a time block's pooling sees τ·B spike maps.

Handled: a square window with stride equal to it, no padding, no ceil mode (VGG's pools).
Anything else, or a tensor numba cannot take, goes to the module itself.
"""

from __future__ import annotations

import torch

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


def _window(m: torch.nn.AvgPool2d) -> int | None:
    """The window size if the kernel handles this pool, else None."""
    k, s, p = (m.kernel_size, m.stride, m.padding)
    k = k if isinstance(k, int) else (k[0] if k[0] == k[1] else None)
    s = s if isinstance(s, int) else (s[0] if s[0] == s[1] else None)
    plain = p in (0, (0, 0)) and not m.ceil_mode and m.divisor_override is None
    return k if plain and k is not None and k == s else None


def avg_pool(m: torch.nn.AvgPool2d, x: torch.Tensor) -> torch.Tensor:
    """``m(x)`` for ``x [N, C, H, W]``: the numba kernel on contiguous float32 CPU tensors,
    the module otherwise."""
    k = _window(m)
    if (
        numba is None
        or k is None
        or x.device.type != "cpu"
        or x.dtype != torch.float32
        or x.dim() != 4
        or not x.is_contiguous()
        or x.requires_grad
    ):
        return m(x)
    n, c, h, w = x.shape
    out = x.new_empty(n, c, h // k, w // k)
    _pool_kernel(x.numpy(), out.numpy(), k)
    return out
