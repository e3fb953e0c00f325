"""ANN → SNN conversion in named steps: trace, read the graph, fold BatchNorm, calibrate, set
thresholds, build the BindsNET network (``pipeline.convert``); calibrations after it."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "convert": "pipeline",
        "ann_graph": "pipeline",
        "chain_stages": "pipeline",
        "check_graph": "pipeline",
        "ThresholdSource": "options",
        "THRESHOLD_SOURCES": "options",
        "ConversionError": "trace",
        "select_output": "trace",
        "build_network": "build",
        "CHANNEL_BINS": "calibrate",
        "HISTOGRAM_BINS": "calibrate",
        "channel_thresholds": "thresholds",
        "balance_thresholds": "balance",
        "calibrate_biases": "biascal",
        "calibrate_potentials": "biascal",
        "calibrate_weights": "weightcal",
    },
)
