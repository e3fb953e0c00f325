"""Lazy re-exports for package ``__init__`` files (PEP 562): a package names its public API
without importing its modules, so importing one light module of it (a config, the options'
vocabulary) does not load torch or bindsnet."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def exports(package: str, names: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` of ``package``, where ``names`` maps each public name
    to the module that defines it (relative to ``package``, or a full ``neurosnn.…`` path)."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = names[name]
        if not module.startswith("neurosnn."):
            module = f"{package}.{module}"
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
