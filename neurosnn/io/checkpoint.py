"""Checkpoints: weights plus the plain data needed to rebuild the network and its input.

A checkpoint is a dict of tensors and primitives, so it loads with ``weights_only=True``
(no pickled code runs). Files are written to a temporary name and renamed
(``neurosnn.io.output.atomic``).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurosnn.errors import UserError
from neurosnn.io.output import atomic
from neurosnn.io.values import check_tensor
from neurosnn.networks import NetworkSpec

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class FactorySpec:
    """A network built by the user's own code: ``module.path:factory``, called with no
    arguments (imported because the user named it; the current folder is searched too)."""

    factory: str
    in_channels: int
    input_size: int
    output: int | str | None = None  # the class scores' index or key (``select_output``)

    @property
    def name(self) -> str:
        return self.factory

    def build(self) -> nn.Module:
        module_name, sep, attr = self.factory.partition(":")
        if not (sep and module_name and attr):
            raise UserError(f"--model must be module.path:factory, got {self.factory!r}")
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise UserError(f"--model {self.factory}: cannot import {module_name}: {err}") from err
        factory = getattr(module, attr, None)
        if not callable(factory):
            raise UserError(f"--model {self.factory}: {module_name} has no callable {attr!r}")
        model = factory()
        if not isinstance(model, nn.Module):
            raise UserError(f"--model {self.factory} returned {type(model).__name__}, not a module")
        return model


@dataclass
class Checkpoint:
    """Contents of a checkpoint file (or a user's model and its weights: ``spec`` a
    ``FactorySpec``)."""

    spec: NetworkSpec | FactorySpec
    state_dict: dict[str, torch.Tensor]
    dataset: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    epoch: int
    test_accuracy: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    config: dict[str, Any] | None = None  # the training settings (neurosnn.learn.train.TrainConfig)
    data_fingerprint: str | None = None  # neurosnn.io.data.fingerprint of the data trained on
    train_fingerprint: str | None = (
        None  # neurosnn.io.data.split_fingerprint of the whole train split
    )

    def build(self) -> nn.Module:
        model = self.spec.build()
        model.load_state_dict(self.state_dict)
        output = getattr(self.spec, "output", None)
        if output is not None:
            from neurosnn.conversion.trace import select_output

            model = select_output(model, output)
        return model.eval()


def resolve(path: str | Path) -> Path:
    """A checkpoint file, or a run folder holding ``checkpoint.pt``."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = asdict(ckpt)
    payload["spec"] = asdict(ckpt.spec)
    payload["mean"], payload["std"] = list(ckpt.mean), list(ckpt.std)
    with atomic(path) as tmp:
        torch.save(payload, tmp)
    return path


def _safe_load(file: Path, map_location, what: str) -> Any:
    """``torch.load`` with ``weights_only=True``; a file of pickled objects (a whole model) or
    an unreadable one gives one line that says what to save instead (never torch's advice to
    load with ``weights_only=False``)."""
    try:
        return torch.load(file, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several unrelated types for such files
        said = str(err).strip()
        if "Unsupported global" in said:
            raise CheckpointError(
                f"{file} holds pickled objects (a whole model?), which neurosnn does not load: "
                "save the weights with torch.save(model.state_dict(), PATH) and pass "
                "--model module.path:factory --weights PATH"
            ) from err
        if "weights_only" in said:  # torch's unpickler failed: not a torch file, or damaged
            raise CheckpointError(
                f"cannot read {what} {file}: it is not a PyTorch file, or it is damaged"
            ) from err
        first = said.splitlines()[0] if said else type(err).__name__
        raise CheckpointError(f"cannot read {what} {file}: {first}") from err


def _is_state_dict(payload: Any) -> bool:
    """A non-empty dict of tensors."""
    return (
        isinstance(payload, dict)
        and bool(payload)
        and all(isinstance(v, torch.Tensor) for v in payload.values())
    )


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict saved by ``torch.save(model.state_dict(), path)`` (or a dict holding one
    under ``"state_dict"``, as many training scripts save), loaded without running code."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"--weights: no file at {file}")
    payload = _safe_load(file, "cpu", "weights")
    if isinstance(payload, dict) and _is_state_dict(payload.get("state_dict")):
        payload = payload["state_dict"]
    if not _is_state_dict(payload):
        raise CheckpointError(f"--weights: {file} is not a state dict (a dict of tensors)")
    try:
        for name, tensor in payload.items():
            check_tensor(tensor, f"weight {name}")
    except UserError as err:
        raise CheckpointError(f"--weights {file}: {err}") from err
    return payload


def user_checkpoint(
    factory: str,
    weights: str | Path,
    dataset: str,
    mean,
    std,
    input_shape: tuple[int, ...],
    output: int | str | None = None,
) -> Checkpoint:
    """A user's model (``module.path:factory``) with its weights, as a checkpoint of the data
    set it is used on (normalised with ``mean``/``std``); ``output``: which of several outputs
    holds the class scores."""
    spec = FactorySpec(factory, int(input_shape[0]), int(input_shape[-1]), output)
    ckpt = Checkpoint(spec, load_weights(weights), dataset, tuple(mean), tuple(std), epoch=0)
    try:
        model = ckpt.build()
    except UserError:  # --model-output names no output (a ConversionError)
        raise
    except RuntimeError as err:  # the weights do not fit the model
        said = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise CheckpointError(f"--weights {weights} do not fit {factory}(): {said[:300]}") from err
    with torch.no_grad():
        out = model(torch.zeros(1, *input_shape))
    if not isinstance(out, torch.Tensor):
        keys = list(out) if isinstance(out, dict) else list(range(len(out)))
        raise UserError(
            f"--model {factory} returns {type(out).__name__} {keys}; pick the class scores "
            "with --model-output KEY"
        )
    return ckpt


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint file or ``<folder>/checkpoint.pt`` without running pickled code."""
    file = resolve(path)
    if not file.is_file():
        raise CheckpointError(f"no checkpoint at {file}")
    payload = _safe_load(file, map_location, "checkpoint")
    if _is_state_dict(payload) or (
        isinstance(payload, dict)
        and "spec" not in payload
        and _is_state_dict(payload.get("state_dict"))
    ):
        raise CheckpointError(
            f"{file} holds weights only, not a neurosnn checkpoint: pass --model "
            f"module.path:factory --weights {file} --dataset NAME"
        )
    required = {"spec", "state_dict", "dataset", "mean", "std", "epoch"}
    if not isinstance(payload, dict) or not required <= payload.keys():
        missing = required - (payload.keys() if isinstance(payload, dict) else set())
        raise CheckpointError(f"{file} is not a neurosnn checkpoint (missing {sorted(missing)})")
    try:
        payload["spec"] = NetworkSpec(**payload["spec"])
        payload["mean"], payload["std"] = tuple(payload["mean"]), tuple(payload["std"])
        ckpt = Checkpoint(**payload)
        for name, tensor in ckpt.state_dict.items():
            check_tensor(tensor, f"weight {name}")
        ckpt.build()  # the network exists and the weights fit it
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        said = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        said = said[:300] or type(err).__name__
        raise CheckpointError(f"{file} is not a usable neurosnn checkpoint: {said}") from err
    return ckpt
