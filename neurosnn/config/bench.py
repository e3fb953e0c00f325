"""What ``neurosnn bench`` measures: the simulation engines' speed, memory and agreement with
bindsnet on one network; without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError
from neurosnn.simulation.options import Delay

Engine = Literal[
    "reference",
    "fast",
    "fast-bf16",
    "step",
    "groups",
    "generation",
    "fast+record",
    "ceiling",
    "spikingjelly",
    "compiled",
]
ENGINES: tuple[str, ...] = get_args(Engine)


@dataclass(frozen=True)
class BenchConfig:
    """The network, the engines and the sizes timed."""

    net: str = fields.net("vgg9")
    options: dict[str, Any] = fields.net_options({})
    model: str | None = fields.model()
    model_output: str | None = fields.model_output()
    input_shape: tuple[int, ...] = option(
        (1, 28, 28),
        help="C,H,W of one input image",
        group="network",
        metavar="C,H,W",
        deprecated=("--input",),
    )
    classes: int = option(10, help="the network's classes", group="network", metavar="N")
    timesteps: int = fields.timesteps(100)
    batch_size: tuple[int, ...] = fields.batch_size((64,), deprecated=("--batch",))  # each timed
    engines: tuple[Engine, ...] = option(
        tuple(e for e in ENGINES if e not in ("generation", "compiled")),
        help="the engines timed, repeated or separated by commas (spikingjelly is left out "
        "where it is not installed: pip install -e '.[bench]'; generation and compiled run "
        "when named)",
        group="simulation",
        metavar="ENGINE",
    )
    delay: Delay = fields.delay()
    time_block: int | None = option(
        None,
        help="the fast engine's τ, the steps of a block",
        group="simulation",
        metavar="TAU",
        default_text="automatic",
    )
    repeats: int = fields.repeats(2)  # the best is kept
    population: int = fields.population(25)
    json: str | None = option(
        None,
        help="0.2's figures file (deprecated: --out DIR writes DIR/bench.json)",
        group="output",
        metavar="FILE",
    )

    def __post_init__(self) -> None:
        if self.model_output is not None and self.model is None:
            raise UserError("model_output: goes with --model")
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise UserError(f"input_shape must be C,H,W of positive sizes, got {self.input_shape}")
        if not self.batch_size or min(self.batch_size) < 1:
            raise UserError(f"batch_size must be positive, got {list(self.batch_size)}")
        if self.population < 5:
            raise UserError(f"population must be >= 5 (SciPy's DE), got {self.population}")
        if self.timesteps < 1 or self.repeats < 1 or self.classes < 2:
            raise UserError("timesteps and repeats must be >= 1, classes >= 2")
