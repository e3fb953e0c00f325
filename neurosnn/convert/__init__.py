"""ANN → SNN conversion in named steps (:mod:`~neurosnn.convert.pipeline`): trace the model
(:mod:`~neurosnn.convert.trace`), read its graph (:mod:`~neurosnn.convert.linear`), fold
(:mod:`~neurosnn.convert.fold`), calibrate (:mod:`~neurosnn.convert.calibrate`), the recipes
that change thresholds (:mod:`~neurosnn.convert.recipes`), build the BindsNET network
(:mod:`~neurosnn.convert.build`)."""

from neurosnn.convert.build import build_network
from neurosnn.convert.calibrate import CHANNEL_BINS, HISTOGRAM_BINS, calibrate
from neurosnn.convert.pipeline import (
    ThresholdSource,
    ann_graph,
    chain_stages,
    check_graph,
    convert,
)
from neurosnn.convert.recipes import channel_thresholds
from neurosnn.convert.trace import ConversionError

__all__ = [
    "CHANNEL_BINS",
    "HISTOGRAM_BINS",
    "ConversionError",
    "ThresholdSource",
    "ann_graph",
    "build_network",
    "calibrate",
    "chain_stages",
    "channel_thresholds",
    "check_graph",
    "convert",
]
