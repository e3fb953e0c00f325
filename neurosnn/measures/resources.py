"""Time and peak memory of a piece of work, on a CPU (resident set) or a CUDA device
(the allocator's statistics)."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path

import torch


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak_memory(device: torch.device) -> int:
    """Reset the peak-memory counter; returns the baseline (bytes) the peak is measured from."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return int(torch.cuda.memory_allocated(device))
    try:  # Linux: writing 5 resets the process's peak resident set size (VmHWM)
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS") * 1024
    except OSError:
        return 0


def peak_memory(device: torch.device, baseline: int) -> int:
    """Peak memory above ``baseline`` since the last reset (CPU: resident set size)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)) - baseline
    try:
        return _status_kib("VmHWM") * 1024 - baseline
    except OSError:  # no /proc: the whole process's peak
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mean_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after one warm-up."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def peak_of(fn: Callable[[], object], device: torch.device) -> int:
    """Peak memory (bytes) one call of ``fn`` adds."""
    baseline = reset_peak_memory(device)
    fn()
    sync(device)
    return peak_memory(device, baseline)
