"""The fast engine (``fast``: layer-major blocks of timesteps over the SNN graph) and its
kernels: the fused IF scan (``ifscan``; ``ifscan_triton`` on CUDA) and pooling."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "run_blocks": "fast",
        "Block": "fast",
        "auto_time_block": "fast",
        "check_timing": "fast",
        "onsets": "fast",
        "cuda_index": "fast",
        "Simulation": "fast",
    },
)
