"""The jobs' configurations and the recipe grammar, without torch: the command line builds its
options from these dataclasses and checks them before it imports the simulator."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "Recipe": "recipe",
        "RECIPES": "recipe",
        "ALIASES": "recipe",
        "LatencyConfig": "latency",
    },
)
