"""The parts of a command every job shares: the network it reads (``Source``), where it writes
(``Output``, ``Scalars``) and what it runs on (``Hardware``); without torch."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError
from neurosnn.io.options import DatasetName


def output_key(model_output: str | None) -> int | str | None:
    """``--model-output`` as an index where it is a whole number, else as a key."""
    key = model_output
    return int(key) if key is not None and key.lstrip("-").isdigit() else key


@dataclass(frozen=True)
class Source:
    """The network a command reads: checkpoints of ``neurosnn train`` (their run folders), or a
    model of your own (``model`` with ``weights`` and ``dataset``)."""

    checkpoint: tuple[str, ...] = fields.checkpoint()
    model: str | None = fields.model()
    weights: tuple[str, ...] = fields.weights()
    model_output: str | None = fields.model_output()
    normalise: bool = fields.normalise()
    input_shape: tuple[int, ...] | None = fields.input_shape()
    dataset: DatasetName | None = fields.dataset()
    data_root: str | None = fields.data_root()

    def __post_init__(self) -> None:
        if self.checkpoint and self.model:
            raise UserError("checkpoint and --model: give one network source, not both")
        if not self.model and (
            self.weights or self.input_shape or self.model_output is not None or not self.normalise
        ):
            raise UserError(
                "model: --weights, --input-shape, --model-output and --no-normalise go with "
                "--model (a checkpoint records its network, its input and its normalisation)"
            )
        if self.model:
            if ":" not in self.model:
                raise UserError(f"model must be MODULE.PATH:FACTORY, got {self.model!r}")
            if not self.weights:
                raise UserError("weights: --model needs --weights FILE (the model's state dict)")
            if not self.dataset:
                raise UserError("dataset: --model needs --dataset NAME (to calibrate and test on)")
        if self.input_shape is not None and (
            len(self.input_shape) != 3 or min(self.input_shape) < 1
        ):
            raise UserError(f"input_shape must be C,H,W of positive sizes, got {self.input_shape}")

    @property
    def output_key(self) -> int | str | None:
        return output_key(self.model_output)

    @property
    def given(self) -> bool:
        return bool(self.checkpoint or self.model)

    @property
    def count(self) -> int:
        """How many networks it names (seeds)."""
        return len(self.weights) if self.model else len(self.checkpoint)

    def require(self, one: bool = False) -> None:
        """Raise unless it names a network (``one``: exactly one)."""
        if not self.given:
            raise UserError("checkpoint: give --checkpoint PATH, or --model with --weights")
        if one and self.count > 1:
            raise UserError(f"checkpoint: this command reads one network, got {self.count}")


@dataclass(frozen=True)
class Data:
    """The data set a job trains and tests on."""

    dataset: DatasetName = fields.dataset("fashion-mnist")
    data_root: str | None = fields.data_root()


@dataclass(frozen=True)
class Output:
    """Where a command writes, and how it shows its progress."""

    out: str = fields.out()
    progress: bool = fields.progress()


@dataclass(frozen=True)
class Scalars:
    """TensorBoard scalars of a job that trains or searches."""

    tensorboard: str | None = fields.tensorboard(
        "each epoch's or generation's figures (loss, accuracy, cost, seconds)"
    )


@dataclass(frozen=True)
class Hardware:
    """The device a job runs on and CUDA's arithmetic."""

    device: str = fields.device()
    allow_tf32: bool = option(
        False,
        help="let CUDA's float32 convolutions and matmuls use TF32: faster, but the spikes are "
        "no longer the CPU's",
        group="hardware",
    )
    gpu_memory: float | None = option(
        None,
        help="the share of the GPU's memory this process may take, in (0, 1], for jobs sharing "
        "one GPU; the simulation sizes its time blocks within it",
        group="hardware",
        metavar="FRACTION",
        default_text="the whole GPU",
    )

    def __post_init__(self) -> None:
        if self.gpu_memory is not None:
            if not 0 < self.gpu_memory <= 1:
                raise UserError(f"gpu_memory: expected a fraction in (0, 1], got {self.gpu_memory}")
            if not self.device.startswith(("cuda", "auto")):
                raise UserError(f"gpu_memory: needs a CUDA --device, found {self.device!r}")

    def apply(self) -> str:
        """Set CUDA's switches for this process; the device to run on ("auto": CUDA when torch
        sees one)."""
        import torch

        from neurosnn.simulation.engine.fast import cuda_index
        from neurosnn.simulation.tf32 import set_tf32

        set_tf32(self.allow_tf32)
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.gpu_memory is not None:
            if not device.startswith("cuda"):
                raise UserError(f"gpu_memory: needs a CUDA device, found {device!r}")
            torch.cuda.set_per_process_memory_fraction(
                self.gpu_memory, cuda_index(torch.device(device))
            )
        return device
