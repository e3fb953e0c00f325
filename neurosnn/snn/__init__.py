"""The converted SNN as a value: its graph of IF layers and connections (``graph``), the
BindsNET network with one threshold per layer (``network``), neurons, synapses, MAC counts."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "ConvertedSNN": "network",
        "SNNNetwork": "network",
        "ActivationHistogram": "network",
        "MIN_THRESHOLD": "network",
        "FLOAT32_MAX": "network",
        "ann_ops": "network",
        "PercentileOf": "options",
        "PERCENTILE_OF": "options",
        "check_phi": "options",
        "SNNGraph": "graph",
        "Node": "graph",
        "Edge": "graph",
        "INPUT": "graph",
        "ann_forward": "graph",
        "path_lengths": "graph",
        "SubtractiveIFNodes": "neurons",
        "AccumulatorNodes": "neurons",
        "IFState": "neurons",
        "if_step": "neurons",
        "accumulate_step": "neurons",
        "OpsConnection": "synapses",
        "SpikeMaxPool2d": "synapses",
        "ScaleShift": "synapses",
        "ChannelPad": "synapses",
        "UnitSpikes": "synapses",
        "WEIGHTED": "synapses",
        "layer_inputs": "macs",
        "chain_inputs": "macs",
        "connection_macs": "macs",
        "weighted_macs": "macs",
    },
)
