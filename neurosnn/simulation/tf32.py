"""CUDA's TF32 switches, the cuDNN convolutions' and the cuBLAS matmuls', as one pair.

PyTorch lets cuDNN's float32 convolutions round their inputs to TF32 by default; with it a
float32 SNN on CUDA does not spike as on the CPU. The commands switch it off unless
``--allow-tf32`` (``neurosnn.experiments.common``), and a search's spawned workers take the
switches of the process that starts them (``neurosnn.search.evaluate``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

Switches = tuple[bool, bool]  # (cuDNN, cuBLAS)


def tf32_switches() -> Switches:
    """This process's ``(cuDNN, cuBLAS)`` TF32 switches."""
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


def set_tf32(allowed: bool | Switches) -> None:
    """Set both switches to ``allowed``, or each to its value of a ``(cuDNN, cuBLAS)`` pair."""
    cudnn, matmul = (allowed, allowed) if isinstance(allowed, bool) else allowed
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = cudnn, matmul


@contextmanager
def tf32(allowed: bool | Switches) -> Iterator[None]:
    """The switches set to ``allowed`` for the block, then back to what they were."""
    before = tf32_switches()
    set_tf32(allowed)
    try:
        yield
    finally:
        set_tf32(before)
