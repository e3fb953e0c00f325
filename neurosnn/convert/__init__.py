"""ANN → SNN conversion: trace, read the graph, fold, calibrate, build (see
:mod:`neurosnn.convert.pipeline`)."""

from neurosnn.convert.calibrate import CHANNEL_BINS, HISTOGRAM_BINS, calibrate, channel_thresholds
from neurosnn.convert.pipeline import (
    ThresholdSource,
    ann_graph,
    chain_stages,
    check_graph,
    convert,
)
from neurosnn.convert.trace import ConversionError

__all__ = [
    "CHANNEL_BINS",
    "HISTOGRAM_BINS",
    "ConversionError",
    "ThresholdSource",
    "ann_graph",
    "calibrate",
    "chain_stages",
    "channel_thresholds",
    "check_graph",
    "convert",
]
