"""What a conversion run depends on (``neurosnn.jobs.convert``, ``neurosnn convert``); without
torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.config.recipe import Recipe
from neurosnn.errors import UserError
from neurosnn.simulation.options import BiasOnset, Delay, Encoding, Precision
from neurosnn.snn.options import PercentileOf, check_phi

# the options a recipe sets, and their fields
RECIPE_FIELDS = (
    "percentile",
    "percentile_of",
    "channelwise",
    "phi",
    "delay",
    "bias_onset",
    "presim",
    "readout_after",
)


@dataclass(frozen=True)
class ConvertConfig:
    """Everything a conversion run depends on (saved in the HDF5 record).

    ``checkpoint``, ``model``, ``dataset``, ``data_root`` and ``device`` say where the network
    and the data come from (the command line's network, data and hardware options); the rest
    are the command's conversion and simulation options.
    """

    checkpoint: str = ""  # "" with snn; with model: the model's weights
    snn: str | None = fields.snn()
    model: str | None = None  # a user's network, module.path:factory
    save_snn: bool = option(
        True,
        help="save the converted SNN beside the run record (OUT/convert.snn.h5)",
        group="output",
    )
    recipe: str | None = option(
        None,
        help="a recipe (neurosnn latency --list-recipes): its thresholds, φ, timing, "
        "calibration, search and delayed readout replace the conversion options below",
        group="conversion",
        metavar="RECIPE",
    )
    percentile: float = fields.percentile()
    percentile_of: PercentileOf = fields.percentile_of()
    channelwise: bool = fields.channelwise()
    phi: float = fields.phi()
    timesteps: int = fields.timesteps(200)
    calib_images: int = fields.calib_images()
    test_images: int = fields.test_images()
    batch_size: int = fields.batch_size()
    engine: Literal["fast", "reference"] = option(
        "fast", help="the fast engine or bindsnet's Network.run", group="simulation"
    )
    precision: Precision = option(
        "fp32",
        help="the fast engine's connections: fp32 (bindsnet's spikes exactly) or bf16 "
        "(float32 membranes)",
        group="simulation",
    )
    delay: Delay = fields.delay()
    bias_onset: BiasOnset = fields.bias_onset()
    encoding: Encoding = option("current", help="the input encoding", group="simulation")
    readout_after: int = option(
        0,
        help="delayed evaluation: predict from the output potential gained after step K, no "
        "answer before; the accuracy per step counts the K steps",
        group="simulation",
        metavar="K",
    )
    presim: int = fields.presim()
    record_spikes: int = option(
        16, help="store the spike trains of this many images", group="output", metavar="N"
    )
    seed: int = fields.seed()
    dataset: str | None = None  # with snn: the data set where the file does not say which
    data_root: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        from neurosnn.snn.options import PERCENTILE_OF

        if not 0 < self.percentile <= 100:
            raise UserError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.percentile_of not in PERCENTILE_OF:
            raise UserError(
                f"percentile_of must be one of {PERCENTILE_OF}, got {self.percentile_of!r}"
            )
        check_phi(self.phi)
        for name, least in (
            ("timesteps", 1),
            ("calib_images", 1),
            ("batch_size", 1),
            ("record_spikes", 0),
            ("test_images", 0),
        ):
            value = getattr(self, name)
            if value is not None and value < least:
                raise UserError(f"{name} must be >= {least}, got {value}")
        if not 0 <= self.readout_after < self.timesteps:
            raise UserError(
                f"readout_after must be in [0, timesteps) = [0, {self.timesteps}), "
                f"got {self.readout_after}"
            )
        if not 0 <= self.presim < self.timesteps:
            raise UserError(
                f"presim must be in [0, timesteps) = [0, {self.timesteps}), got {self.presim}"
            )
        if self.dataset is not None and self.checkpoint and not (self.snn or self.model):
            raise UserError("dataset: a checkpoint records its data set; it is for a saved snn")
        if self.recipe is not None:
            Recipe.parse(self.recipe)  # one line naming a bad token
            defaults = {f.name: f.default for f in dataclasses.fields(ConvertConfig)}
            clash = [n for n in RECIPE_FIELDS if getattr(self, n) != defaults[n]]
            if clash:
                raise UserError(
                    f"recipe {self.recipe!r} sets {', '.join(clash)}: give the recipe or "
                    f"--{clash[0].replace('_', '-')}, not both"
                )
            if self.snn:
                raise UserError("recipe: a saved SNN keeps its own conversion; it is for a network")

    @property
    def parsed_recipe(self) -> Recipe | None:
        return None if self.recipe is None else Recipe.parse(self.recipe)
