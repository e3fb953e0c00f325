"""The import paths of neurosnn 0.2, kept for one release (0.3) with a ``DeprecationWarning``
that names the new path (the CHANGELOG lists every move; they go in 0.4).

Importing an old module (``neurosnn.simulate``, ``neurosnn.convert.biascal``…) gives a stand-in
that warns once and forwards every attribute to the module that holds it now. The two old
names that became the top-level functions (``neurosnn.convert``, ``neurosnn.simulate``) give
stand-ins that can also be called as those functions, so ``ns.convert(...)`` keeps working
after old code has imported ``neurosnn.convert.pipeline``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

# old module → the module(s) that hold its names now, searched in order
MOVED: dict[str, tuple[str, ...]] = {
    "neurosnn.graph": ("neurosnn.snn.graph",),
    "neurosnn.neurons": ("neurosnn.snn.neurons",),
    "neurosnn.synapses": ("neurosnn.snn.synapses",),
    "neurosnn.module": ("neurosnn.simulation.module",),
    "neurosnn.simulate": ("neurosnn.simulation.run", "neurosnn.simulation.options"),
    "neurosnn.encoding": ("neurosnn.simulation.encoding", "neurosnn.simulation.options"),
    "neurosnn.delayed": ("neurosnn.simulation.delayed",),
    "neurosnn.srp": ("neurosnn.simulation.srp", "neurosnn.simulation.options"),
    "neurosnn.tf32": ("neurosnn.simulation.tf32",),
    "neurosnn.engine": ("neurosnn.simulation.engine.fast", "neurosnn.simulation.options"),
    "neurosnn.engine.fast": ("neurosnn.simulation.engine.fast", "neurosnn.simulation.options"),
    "neurosnn.engine.ifscan": ("neurosnn.simulation.engine.ifscan",),
    "neurosnn.engine.ifscan_triton": ("neurosnn.simulation.engine.ifscan_triton",),
    "neurosnn.engine.pooling": ("neurosnn.simulation.engine.pooling",),
    "neurosnn.convert": (
        "neurosnn.conversion.pipeline",
        "neurosnn.conversion.options",
        "neurosnn.conversion.build",
        "neurosnn.conversion.calibrate",
        "neurosnn.conversion.thresholds",
        "neurosnn.conversion.trace",
    ),
    "neurosnn.convert.pipeline": ("neurosnn.conversion.pipeline", "neurosnn.conversion.options"),
    "neurosnn.convert.recipes": ("neurosnn.conversion.thresholds",),
    "neurosnn.cost": ("neurosnn.search.cost", "neurosnn.simulation.curve"),
    "neurosnn.evolve": ("neurosnn.config.search", "neurosnn.search.evaluate", "neurosnn.search.de"),
    "neurosnn.train": ("neurosnn.learn.train", "neurosnn.config.train"),
    "neurosnn.nq": ("neurosnn.learn.nq",),
    "neurosnn.stdp": ("neurosnn.learn.stdp",),
    "neurosnn.readout": ("neurosnn.learn.readout",),
    "neurosnn.surrogate": ("neurosnn.learn.surrogate",),
    "neurosnn.significance": ("neurosnn.measures.significance",),
    "neurosnn.energy": ("neurosnn.measures.energy", "neurosnn.snn.macs"),
    "neurosnn.attacks": ("neurosnn.measures.attacks",),
    "neurosnn.measure": ("neurosnn.measures.resources",),
    "neurosnn.data": ("neurosnn.io.data",),
    "neurosnn.checkpoint": ("neurosnn.io.checkpoint",),
    "neurosnn.output": ("neurosnn.io.output",),
    "neurosnn.files": ("neurosnn.io",),
}
for _name in ("balance", "biascal", "build", "calibrate", "fold", "linear", "trace", "weightcal"):
    MOVED[f"neurosnn.convert.{_name}"] = (f"neurosnn.conversion.{_name}",)
for _name in ("agd", "finetune", "network", "neurons", "sparsity", "spike", "stochmax"):
    MOVED[f"neurosnn.surrogate.{_name}"] = (f"neurosnn.learn.surrogate.{_name}",)
for _name in ("record", "snnfile", "nirio", "nirconsumer", "tensorboard"):
    MOVED[f"neurosnn.files.{_name}"] = (f"neurosnn.io.{_name}",)
# what the warning names where the old module's names went to more than one place
NEW = {
    "neurosnn.convert": "neurosnn.conversion (the function: neurosnn.convert)",
    "neurosnn.simulate": "neurosnn.simulation (the function: neurosnn.simulate)",
    "neurosnn.evolve": "neurosnn.config.search and neurosnn.search (evaluate, de)",
    "neurosnn.engine": "neurosnn.simulation.engine",
}
# old packages: their submodules moved too
PACKAGES = {"neurosnn.engine", "neurosnn.convert", "neurosnn.surrogate", "neurosnn.files"}
# old modules whose name is now a top-level function: the stand-in calls it
CALLABLE = {
    "neurosnn.convert": ("neurosnn.conversion.pipeline", "convert"),
    "neurosnn.simulate": ("neurosnn.simulation.run", "simulate"),
}


def warn(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{old} is deprecated since neurosnn 0.3 and goes in 0.4; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def deprecated(new: str) -> Callable[[Callable], Callable]:
    """Mark a function or method of the 0.2 API kept for one release: calling it warns that
    ``new`` replaces it. (The import-cycle test skips the imports inside such functions: they
    are the old API's, and go with it.)"""

    def wrap(func: Callable) -> Callable:
        @functools.wraps(func)
        def shim(*args: Any, **kwargs: Any) -> Any:
            warn(func.__qualname__, new)
            return func(*args, **kwargs)

        shim.__deprecated__ = new  # type: ignore[attr-defined]
        return shim

    return wrap


def _importer_level() -> int:
    """The ``stacklevel`` of the first frame outside the import machinery and this file: the
    warning names the user's import (so Python's default filter shows it in ``__main__``)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib")
        or frame.f_code.co_filename == __file__
    ):
        # Python's warnings skip the import machinery's frames when they count the level
        level += not frame.f_code.co_filename.startswith("<frozen importlib")
        frame = frame.f_back
    return level + 1  # counted from warn(), one frame below


class _Moved(types.ModuleType):
    """An old module: forwards attribute reads to the modules that hold them now."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        old = self.__name__
        for target in MOVED[old]:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.__name__ not in CALLABLE:
            raise TypeError(f"module {self.__name__!r} is not callable")
        module, name = CALLABLE[self.__name__]
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _Moved(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        old = module.__name__
        if old in PACKAGES:
            module.__path__ = []  # its old submodules are found by this finder too
        warn(old, NEW.get(old, " and ".join(MOVED[old])), stacklevel=_importer_level())


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the old modules (only those: anything else is left to Python's own finders)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=fullname in PACKAGES)


def install() -> None:
    """Put the finder behind Python's own (once): a module that exists is always found first."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
