"""The ``neurosnn`` subcommands: where each one's ``Command`` is and what it does (the table
``neurosnn --help`` prints); the plots are ``neurosnn plot KIND`` (``PLOTS``)."""

# subcommand → ("module:COMMAND", what it does)
COMMANDS = {
    "demo": (
        "neurosnn.experiments.quickstart:COMMAND",
        "the main job end to end on Fashion-MNIST, in minutes",
    ),
    "train": ("neurosnn.experiments.train_ann:COMMAND", "train an ANN and save its checkpoint"),
    "convert": (
        "neurosnn.experiments.convert:COMMAND",
        "convert a checkpoint or your own model to an SNN, simulate and record",
    ),
    "search": (
        "neurosnn.experiments.neuroevolve:COMMAND",
        "the threshold search (Lu & Sengupta) and its test",
    ),
    "latency": (
        "neurosnn.experiments.latency:COMMAND",
        "the steps each recipe needs to reach ANN - 1%",
    ),
    "attack": (
        "neurosnn.experiments.adversarial:COMMAND",
        "the threshold search under FGSM, ANS per layer",
    ),
    "bptt": (
        "neurosnn.experiments.bptt_vs_de:COMMAND",
        "surrogate-gradient BPTT against the search",
    ),
    "agd": ("neurosnn.experiments.agd:COMMAND", "AGD, stochmax and hybrid training"),
    "sparsity": ("neurosnn.experiments.sparsity:COMMAND", "spike sparsity losses"),
    "backres": ("neurosnn.experiments.backres:COMMAND", "BackRes networks"),
    "stdp": ("neurosnn.experiments.stdp:COMMAND", "layer-wise STDP and ReLU classifiers"),
    "cost-noise": ("neurosnn.experiments.cost_noise:COMMAND", "the noise of the search's cost"),
    "export": ("neurosnn.experiments.export:COMMAND", "an SNN as NIR, checked with nirtorch"),
    "bench": (
        "neurosnn.experiments.bench_sim:COMMAND",
        "simulation speed against bindsnet and the ceiling",
    ),
    "inspect": (
        "neurosnn.experiments.plots:INSPECT",
        "layers, thresholds, rates and accuracy of a run record",
    ),
    "plot": (
        "neurosnn.experiments.plots:PLOTS",
        "plots of results: run, search, latency, frontier, srp, attack, bptt, agd, sparsity, "
        "backres, stdp",
    ),
    "leaderboard": (
        "neurosnn.experiments.plots:LEADERBOARD",
        "the leaderboard page from latency folders",
    ),
}
# 0.2's names, still run for a release with a note
RENAMED = {"plot-search": ("plot", "search")}
