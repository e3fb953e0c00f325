"""What ``neurosnn export`` writes and checks: a saved, searched or converted SNN as NIR; without
torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError


@dataclass(frozen=True)
class ExportConfig:
    """The SNN to export (a file, a search's result, or a network converted here) and the
    check of the written file."""

    snn: str | None = fields.snn()
    search: str | None = fields.search_folder()  # its tuned SNN, exported
    percentile: float = fields.percentile()
    phi: float = fields.phi()
    calib_images: int = fields.calib_images()
    fold: bool = option(
        True,
        help="fold the thresholds into the next layer's weights; --no-fold keeps them as "
        "nir.Scale nodes after each IF layer (an exact round trip; not every importer maps "
        "Scale)",
        group="conversion",
    )
    nir: str | None = option(
        None,
        help="0.2's output file (deprecated: --out DIR writes DIR/snn.nir)",
        group="output",
        metavar="FILE",
    )
    nir_target: Literal[
        "neurosnn", "nirtorch", "norse", "rockpool", "sinabs", "snntorch", "spikingjelly"
    ] = option(
        "neurosnn",
        help="the simulator that will run the file: neurosnn (and nirtorch with neurosnn's "
        "neuron map) keep every semantic; norse, rockpool, sinabs, snntorch, spikingjelly get "
        "the nodes their importer maps, in the form closest to neurosnn's (the NIR guide lists "
        "what each loses)",
        group="output",
    )
    compare: int = option(
        0,
        help="run the written file with neurosnn and with the --nir-target simulator (nirtorch "
        "for neurosnn; a simulator's own environment from make consumers, else this Python) "
        "on N test images and report their agreement per step; 0: no check",
        group="evaluation",
        metavar="N",
    )
    timesteps: int = fields.timesteps(100)
    batch_size: int = fields.batch_size(100)

    def __post_init__(self) -> None:
        if self.snn and self.search:
            raise UserError("snn and --search: give one SNN to export")
        if self.compare < 0 or self.timesteps < 1 or self.batch_size < 1:
            raise UserError("compare must be >= 0, --timesteps and --batch-size >= 1")
