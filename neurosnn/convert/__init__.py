"""ANN → SNN conversion in named steps (``neurosnn.convert.pipeline``): trace the model
(``neurosnn.convert.trace``), read its graph (``neurosnn.convert.linear``), fold
(``neurosnn.convert.fold``), calibrate (``neurosnn.convert.calibrate``), the recipes
that change thresholds (``neurosnn.convert.recipes``), build the BindsNET network
(``neurosnn.convert.build``)."""

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
