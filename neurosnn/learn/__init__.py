"""Training: the ANN with conversion constraints (``train``; QCFS and NQ), surrogate-gradient
BPTT (``surrogate``), layer-wise STDP (``stdp``) and the ReLU classifiers read from spikes."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "TrainConfig": "train",
        "train_ann": "train",
        "evaluate": "train",
        "TrainingDiverged": "train",
        "measure_residual": "nq",
        "STDPConfig": "stdp",
        "STDPNet": "stdp",
        "train_layerwise": "stdp",
        "spike_features": "stdp",
        "ReadoutConfig": "readout",
        "train_classifier": "readout",
        "build_classifier": "readout",
    },
)
