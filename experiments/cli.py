"""The ``neurosnn`` command: one entry point for the experiment and analysis modules.

    neurosnn convert --checkpoint runs/fmnist_vgg9 --out runs/fmnist_vgg9/convert.h5
    neurosnn search --help

``neurosnn SUB ARGS`` runs ``python -m MODULE ARGS`` of the subcommand's module, with the same
options and outputs.
"""

from __future__ import annotations

import importlib
import sys

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
}


def usage() -> str:
    lines = [
        "usage: neurosnn COMMAND [OPTIONS]   (neurosnn COMMAND --help: its options; "
        "neurosnn --version)",
        "",
    ]
    lines += [f"  {name:<12} {what}" for name, (_, what) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from neurosnn import __version__

        print(f"neurosnn {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])  # bindsnet's import takes seconds
    except KeyboardInterrupt:
        from neurosnn.output import INTERRUPTED

        print(INTERRUPTED, file=sys.stderr)
        return 130
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
