"""The threshold search (Lu & Sengupta, Algorithm 1): its hyper-parameters and presets
(``config``), the cost functions (``cost``), candidate scoring (``evaluate``), DE (``de``)."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "SearchConfig": "config",
        "PRESETS": "config",
        "LatencyAccuracyCost": "cost",
        "StepsToTargetCost": "cost",
        "AccuracyDeficitCost": "cost",
        "SpikePenalty": "cost",
        "training_cost": "cost",
        "Evaluator": "evaluate",
        "vectorised_map": "evaluate",
        "process_pool_map": "evaluate",
        "ray_pool_map": "evaluate",
        "cost_noise": "evaluate",
        "run_search": "de",
        "SearchResult": "de",
        "Generation": "de",
        "unless_beaten": "de",
        "search_training_cost": "de",
    },
)
