"""The jobs' configurations and the recipe grammar, without torch: each command's options are
generated from these dataclasses, and checked before the simulator is imported."""

from neurosnn._lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "Recipe": "recipe",
        "RECIPES": "recipe",
        "ALIASES": "recipe",
        "SEARCH": "recipe",
        "sized_search": "recipe",
        "Preparation": "recipe",
        "LatencyConfig": "latency",
        "ConvertConfig": "convert",
        "SearchConfig": "search",
        "EvalConfig": "search",
        "PRESETS": "search",
        "Preset": "search",
        "TrainConfig": "train",
        "DATASET_OPTIONS": "train",
        "Network": "train",
        "TrainData": "train",
        "AttackConfig": "attack",
        "BPTTConfig": "bptt",
        "FinetuneConfig": "bptt",
        "AGDJobConfig": "agd",
        "SparsityConfig": "sparsity",
        "BackResConfig": "backres",
        "STDPConfig": "stdp",
        "STDPJobConfig": "stdp",
        "NoiseConfig": "noise",
        "ExportConfig": "export",
        "BenchConfig": "bench",
        "DemoConfig": "demo",
        "Source": "common",
        "Data": "common",
        "Output": "common",
        "Scalars": "common",
        "Hardware": "common",
    },
)
