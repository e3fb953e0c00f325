"""Name → factory registry for the network zoo (the timm pattern: architecture as data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from neurosnn.errors import UserError

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}


@dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild a network: what checkpoints store instead of code."""

    name: str
    num_classes: int
    in_channels: int
    input_size: int
    options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        return create_network(
            self.name, self.num_classes, self.in_channels, self.input_size, **self.options
        )


def register_network(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a factory under ``name``; registering a name twice raises.

    Args:
        name: the name ``create_network`` and ``neurosnn train --net`` will know it by.

    Returns:
        A decorator for a factory ``(num_classes, in_channels, input_size, **options) ->
        nn.Module``, which it returns unchanged.

    Example:
        ```python
        @ns.register_network("tiny")
        def tiny(num_classes, in_channels, input_size, width=1.0):
            return nn.Sequential(...)
        ```"""

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _FACTORIES:
            raise ValueError(f"network {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return decorator


def list_networks() -> list[str]:
    """Names of all registered networks, sorted.

    Returns:
        Every name ``create_network`` (and ``neurosnn train --net``) accepts."""
    return sorted(_FACTORIES)


def create_network(
    name: str, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, **options: Any
) -> nn.Module:
    """Build a registered network by name.

    Args:
        name: registered name (see ``list_networks``).
        num_classes: number of output classes.
        in_channels: channels of the input image.
        input_size: height (= width) of the input image.
        **options: architecture options of that family (e.g. ``pool="avg"``, ``bias=False``).

    Returns:
        The network; its ``spec`` attribute holds the ``NetworkSpec`` that rebuilds it.
    """
    if name not in _FACTORIES:
        raise KeyError(f"unknown network {name!r}; registered: {', '.join(list_networks())}")
    for arg, value in (
        ("num_classes", num_classes),
        ("in_channels", in_channels),
        ("input_size", input_size),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    try:
        model = _FACTORIES[name](
            num_classes=num_classes, in_channels=in_channels, input_size=input_size, **options
        )
    except (MemoryError, RuntimeError) as err:  # e.g. width=1e9: weights no memory holds
        if not isinstance(err, MemoryError) and "allocate" not in str(err):
            raise
        detail = str(err).strip().splitlines()[-1] if str(err).strip() else "out of memory"
        raise UserError(
            f"network {name} with options {options} does not fit in memory ({detail})"
        ) from err
    model.spec = NetworkSpec(name, num_classes, in_channels, input_size, dict(options))
    return model
