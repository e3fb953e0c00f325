"""The fast simulation engine (``neurosnn.engine.fast``: layer-major blocks of timesteps
over the SNN graph) and its kernels: the fused IF scan (``neurosnn.engine.ifscan``, numba
on CPU, ``neurosnn.engine.ifscan_triton`` on CUDA) and pooling
(``neurosnn.engine.pooling``)."""

from neurosnn.engine.fast import (
    BIAS_ONSETS,
    DELAYS,
    PRECISIONS,
    BiasOnset,
    Block,
    Delay,
    Precision,
    auto_time_block,
    check_timing,
    onsets,
    run_blocks,
)

__all__ = [
    "BIAS_ONSETS",
    "DELAYS",
    "PRECISIONS",
    "BiasOnset",
    "Block",
    "Delay",
    "Precision",
    "auto_time_block",
    "check_timing",
    "onsets",
    "run_blocks",
]
