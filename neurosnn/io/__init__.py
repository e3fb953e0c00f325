"""Data in and files out: data sets (``data``), checkpoints, run records (``record``, the only
h5py user), saved SNNs (``snnfile``), NIR (``nirio``; its operators ``nirops``, the files for
other simulators ``nirtargets``), output locks and atomic writes."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "Dataset": "data",
        "load_dataset": "data",
        "DATASETS": "data",
        "synthetic": "data",
        "with_normalisation": "data",
        "Checkpoint": "checkpoint",
        "load_checkpoint": "checkpoint",
        "save_checkpoint": "checkpoint",
        "CheckpointError": "checkpoint",
        "RunWriter": "record",
        "read_run": "record",
        "read_spikes": "record",
        "write_run": "record",
        "RunRecord": "record",
        "save_snn": "snnfile",
        "load_snn": "snnfile",
        "write_nir": "nirio",
        "read_nir": "nirio",
        "to_nir": "nirio",
        "from_nir": "nirio",
        "NIRError": "nirio",
        "one_line_errors": "output",
    },
)
