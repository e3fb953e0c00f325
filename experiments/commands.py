"""The ``neurosnn`` subcommands: each one's module and what it does (the dispatcher's table,
and the name every command's usage line shows)."""

# subcommand → (module, what it does)
COMMANDS = {
    "demo": (
        "neurosnn.experiments.quickstart",
        "the main job end to end on Fashion-MNIST, in minutes",
    ),
    "train": ("neurosnn.experiments.train_ann", "train an ANN and save its checkpoint"),
    "convert": (
        "neurosnn.experiments.convert",
        "convert a checkpoint or your own model to an SNN, simulate and record",
    ),
    "search": (
        "neurosnn.experiments.neuroevolve",
        "the threshold search (Lu & Sengupta) and its test",
    ),
    "latency": ("neurosnn.experiments.latency", "the low-latency recipes, steps to ANN - 1%"),
    "attack": (
        "neurosnn.experiments.adversarial",
        "the threshold search under FGSM, ANS per layer",
    ),
    "bptt": ("neurosnn.experiments.bptt_vs_de", "surrogate-gradient BPTT against the search"),
    "agd": ("neurosnn.experiments.agd", "AGD, stochmax and hybrid training"),
    "sparsity": ("neurosnn.experiments.sparsity", "spike sparsity losses"),
    "backres": ("neurosnn.experiments.backres", "BackRes networks"),
    "stdp": ("neurosnn.experiments.stdp", "layer-wise STDP and ReLU classifiers"),
    "cost-noise": ("neurosnn.experiments.cost_noise", "the noise of the search's cost"),
    "export": ("neurosnn.experiments.export", "a saved SNN as NIR, checked with nirtorch"),
    "bench": (
        "neurosnn.experiments.bench_sim",
        "simulation speed against bindsnet and the ceiling",
    ),
    "inspect": ("neurosnn.analysis.inspect", "layers, thresholds, rates and accuracy of a record"),
    "plot": ("neurosnn.analysis.plot", "plots of a run record"),
    "plot-search": ("neurosnn.analysis.neuroevolution", "plots of a threshold search folder"),
    "leaderboard": ("neurosnn.analysis.leaderboard", "the leaderboard page from latency folders"),
}
