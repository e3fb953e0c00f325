"""The analysis tools as commands: ``neurosnn inspect``, ``neurosnn plot KIND`` and
``neurosnn leaderboard``. They read result files (``neurosnn.analysis``) and run no
simulation; their options, like every command's, come from the dataclasses below."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.experiments.parser import Command, Part
from neurosnn.simulation.options import Delay


def _folder(what: str) -> str:
    return option(
        help=f"the output folder of {what}", group="input", positional=True, metavar="DIR"
    )


def _plots_out(default: str = "FOLDER/plots") -> str:
    return fields.out(None, default)


@dataclass(frozen=True)
class InspectRun:
    run: str = option(
        help="a run record (.h5) of any command or a folder holding one (convert's OUT); a "
        "saved SNN (.snn.h5), a NIR file, a threshold search (search.h5 or its folder), a "
        "checkpoint (.pt or train's OUT), or a folder of several of them",
        group="input",
        positional=True,
        metavar="PATH",
    )


@dataclass(frozen=True)
class PlotRun:
    run: str = option(
        help="a run record (.h5), or a folder holding one", group="input", positional=True,
        metavar="RUN",
    )  # fmt: skip
    out: str | None = _plots_out("RUN_plots beside the record")
    sample: int = option(0, help="the image shown in the raster", group="output", metavar="N")


@dataclass(frozen=True)
class PlotFolder:
    """A job's output folder, plotted again."""

    folder: str = _folder("the command")
    out: str | None = _plots_out()


@dataclass(frozen=True)
class PlotLatency:
    folder: str = _folder("neurosnn latency for one checkpoint (OUT/<checkpoint>)")
    out: str | None = _plots_out()
    steps: int = option(64, help="the timesteps of the accuracy plot", group="output", metavar="T")
    delay: Delay = fields.delay()  # the runs with the layer delay, or a graph's without it


@dataclass(frozen=True)
class PlotFrontier:
    runs: tuple[str, ...] = option(
        help="run records (.h5) of the same test images",
        group="input",
        positional=True,
        repeat=True,
        metavar="RUN",
    )
    out: str = fields.out()  # OUT/frontier.png
    labels: tuple[str, ...] = option(
        (),
        help="the legend's labels, repeated or separated by commas",
        group="output",
        metavar="LABEL",
        default_text="the files' names",
    )


@dataclass(frozen=True)
class PlotSRP:
    snn: tuple[str, ...] = option(
        help="SNN files (RECIPE.snn.h5) saved by neurosnn latency",
        group="input",
        positional=True,
        repeat=True,
        metavar="SNN",
    )
    presim: int | None = fields.presim(None, "the one each file records")
    test_images: int = fields.test_images(500, deprecated=("--images",))
    seed: int = fields.seed()
    data_root: str | None = fields.data_root("the one the file names", deprecated=("--root",))
    out: str | None = fields.out(None, "print only; with DIR, also DIR/srp.json")


@dataclass(frozen=True)
class Leaderboard:
    folders: tuple[str, ...] = option(
        help="neurosnn latency output folders",
        group="input",
        positional=True,
        repeat=True,
        metavar="DIR",
    )
    out: str | None = fields.out(None, "print the page; with DIR, DIR/leaderboard.md")


def _command(name: str, cls: type, run: str, description: str, *examples: str) -> Command:
    return Command(name, description, (Part("plot", cls),), run, examples)


def summary(command: Command) -> str:
    """The first clause of a plot's description, for ``neurosnn plot --help``."""
    return command.description.split(":")[0].split(" (")[0].rstrip(".")


INSPECT = _command(
    "inspect",
    InspectRun,
    "neurosnn.analysis.inspect:run",
    "Print what a run record holds: its settings, each layer's threshold and firing rate, the "
    "accuracy per step and the steps to ANN − 1%, and the energy of the run; for a saved SNN or "
    "NIR file its layers, thresholds and φ, for a search its generations and best thresholds, "
    "for a checkpoint its network and accuracy, for a folder what it holds.",
    "neurosnn inspect runs/vgg9_snn",
    "neurosnn inspect runs/vgg9_snn/convert.h5",
    "neurosnn inspect runs/quickstart/latency",
)
LEADERBOARD = _command(
    "leaderboard",
    Leaderboard,
    "neurosnn.analysis.leaderboard:run",
    "The leaderboard page in the field's format (the accuracy at T = 1 … 64 without the layer "
    "delay, the steps to ANN − 1% both ways, the spikes per image; mean and range over seeds) "
    "from neurosnn latency folders; folders on the same checkpoints and test images make one "
    "table per network.",
    "neurosnn leaderboard runs/lat_vgg9 runs/lat_vgg9_qcfs --out docs",
)
# neurosnn plot KIND: KIND → (its config, its function, what it shows, an example)
PLOTS = {
    "run": _command(
        "plot run",
        PlotRun,
        "neurosnn.analysis.plot:run",
        "The accuracy per step, each layer's activity and a spike raster of one run record.",
        "neurosnn plot run runs/vgg9_snn --out runs/vgg9_snn/plots",
    ),
    "search": _command(
        "plot search",
        PlotFolder,
        "neurosnn.analysis.neuroevolution:run",
        "A threshold search: its cost per generation, the thresholds against the layers' PCA "
        "significance, the baseline's and the tuned SNN's accuracy per step and frontier.",
        "neurosnn plot search runs/fmnist_vgg9_search",
    ),
    "latency": _command(
        "plot latency",
        PlotLatency,
        "neurosnn.analysis.latency:run",
        "The recipes of one checkpoint of a latency run: their accuracy per step and their "
        "latency–accuracy frontier.",
        "neurosnn plot latency runs/lat/fmnist_vgg9 --steps 128",
    ),
    "frontier": _command(
        "plot frontier",
        PlotFrontier,
        "neurosnn.analysis.frontier:run",
        "The latency–accuracy frontier of run records: for each accuracy, the first step that "
        "reaches it.",
        "neurosnn plot frontier runs/lat/ann/all.h5 runs/lat/ann/phi+onset.h5 --out runs/front",
    ),
    "srp": _command(
        "plot srp",
        PlotSRP,
        "neurosnn.analysis.srp:run",
        "Which neurons SRP silences (Hao et al., AAAI 2023), against the ANN the SNN stands for: "
        "per layer, the silenced neurons the ANN leaves at 0 and those it activates.",
        "neurosnn plot srp runs/lat/ann/trained+phi+srp4.snn.h5 --test-images 200",
    ),
    "attack": _command(
        "plot attack",
        PlotFolder,
        "neurosnn.analysis.adversarial:run",
        "An attack's accuracy clean and under FGSM, and each layer's noise sensitivity.",
        "neurosnn plot attack runs/vgg9_fgsm",
    ),
    "bptt": _command(
        "plot bptt",
        PlotFolder,
        "neurosnn.analysis.bptt:run",
        "The search against BPTT: accuracy per step (Fig. 4) and time and memory (Fig. 5).",
        "neurosnn plot bptt runs/vgg9_bptt",
    ),
    "agd": _command(
        "plot agd",
        PlotFolder,
        "neurosnn.analysis.agd:run",
        "AGD's variants: accuracy per step and spikes.",
        "neurosnn plot agd runs/agd",
    ),
    "sparsity": _command(
        "plot sparsity",
        PlotFolder,
        "neurosnn.analysis.sparsity:run",
        "Spiking sparsity: accuracy against spikes per schedule.",
        "neurosnn plot sparsity runs/sparsity",
    ),
    "backres": _command(
        "plot backres",
        PlotFolder,
        "neurosnn.analysis.backres:run",
        "BackRes against plain VGGs: accuracy per T and energy efficiency.",
        "neurosnn plot backres runs/backres",
    ),
    "stdp": _command(
        "plot stdp",
        PlotFolder,
        "neurosnn.analysis.stdp:run",
        "STDP against random features: kernels, thresholds and the classifiers' accuracy.",
        "neurosnn plot stdp runs/stdp",
    ),
}
