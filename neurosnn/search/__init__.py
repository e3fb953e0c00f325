"""The threshold search (Lu & Sengupta, Algorithm 1): the cost functions (``cost``), candidate
scoring (``evaluate``), DE (``de``); its hyper-parameters are ``neurosnn.config.search``."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "SearchConfig": "neurosnn.config.search",
        "PRESETS": "neurosnn.config.search",
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
