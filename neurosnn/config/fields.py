"""How a config field appears on the command line, and the fields every command shares.

A config dataclass field becomes an option when its metadata holds an ``Option`` (made by
``option()``); the command line (``neurosnn.experiments.parser``) builds each command from
its configs' fields: the option is the field's name in kebab case, its help and group come
from here. A concept that several commands share (the test images, the device, the output
folder…) is one function below, so it has one name, one meaning and one default everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# the groups of a command's help, in this order
GROUPS = (
    "input",
    "network",
    "data",
    "training",
    "conversion",
    "simulation",
    "search",
    "evaluation",
    "attack",
    "output",
    "hardware",
)


@dataclass(frozen=True)
class Option:
    """What the command line shows of a field.

    Attributes:
        help: one sentence or two: what the value does (the default is shown after it).
        group: one of ``GROUPS``.
        metavar: the value's name in the usage (default: the option's name in capitals).
        default_text: how the default reads where the value itself does not say it ("all",
            "the preset's").
        repeat: a tuple field given once per value (``--net a --net b``) and/or as a comma list.
        name: the option's name where it is not the field's (two configs of one command with
            a field of the same name).
        deprecated: old spellings of the option, accepted for a release with a note.
        expose: for a field that holds a config of its own: which of that config's fields are
            options (with their own ``Option``), instead of the field itself.
        positional: given without a flag (the files a command reads); with ``repeat``, one or
            more.
        most: the largest whole number the option takes (every count is at most
            ``MAX_COUNT``), checked before any work is done.
    """

    help: str
    group: str
    metavar: str | None = None
    default_text: str | None = None
    repeat: bool = False
    name: str | None = None
    deprecated: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    positional: bool = False
    most: int | None = None

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}, got {self.group!r}")


# the largest count any option takes (images, epochs, batch sizes …)
MAX_COUNT = 2**31 - 1
# the most timesteps a simulation runs (``neurosnn.simulation.options.MAX_TIMESTEPS``)
MOST_TIMESTEPS = 1_000_000


def option(default: Any = dataclasses.MISSING, *, factory: Any = None, **how: Any) -> Any:
    """A dataclass field that is a command-line option (``how``: ``Option``'s fields)."""
    meta = {"option": Option(**how)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def option_of(field: dataclasses.Field) -> Option | None:
    return field.metadata.get("option")


# --- the concepts every command shares: one name, one meaning, one default -------------------


def checkpoint() -> Any:
    return option(
        (),
        help="a checkpoint.pt of neurosnn train, or its run folder (repeat for several seeds "
        "where the command compares them)",
        group="network",
        metavar="PATH",
        repeat=True,
    )


def model() -> Any:
    return option(
        None,
        help="MODULE.PATH:FACTORY, a network of your own: FACTORY() builds it (imported from "
        "MODULE.PATH, the current folder included; examples/architectures.py has stock "
        "torchvision ones); with --weights and --dataset where the command reads trained "
        "weights (bench times it randomly initialised)",
        group="network",
        metavar="MODULE:FACTORY",
    )


def weights() -> Any:
    return option(
        (),
        help="with --model: its state dict, saved by torch.save(model.state_dict(), PATH) "
        "(loaded without running pickled code); repeat for several seeds",
        group="network",
        metavar="PATH",
        repeat=True,
    )


def model_output() -> Any:
    return option(
        None,
        help="with --model returning several outputs (a tuple, list or dict: auxiliary "
        "heads): the index or key of the class scores",
        group="network",
        metavar="KEY",
    )


def normalise() -> Any:
    return option(
        True,
        help="with --model: normalise the images with the data set's mean and std; "
        "--no-normalise for a model that normalises its input itself",
        group="network",
    )


def input_shape() -> Any:
    return option(
        None,
        help="C,H,W of one input image",
        group="network",
        metavar="C,H,W",
        default_text="the data set's",
    )


def dataset(default: str | None = None) -> Any:
    return option(
        default,
        help="the data set (a checkpoint names its own; with --model or a NIR file, the one "
        "to calibrate and test on)",
        group="data",
        metavar="NAME",
        default_text=None if default else "the checkpoint's",
    )


def data_root(default_text: str = "the usual place", **more: Any) -> Any:
    return option(
        None,
        help="folder with the data set's files (Debian's dataset-fashion-mnist is found "
        "without it; CIFAR and ImageNet need it)",
        group="data",
        metavar="DIR",
        default_text=default_text,
        **more,
    )


def test_images(default: int = 0, **more: Any) -> Any:
    return option(
        default,
        help="simulate a seeded random N of the test images; 0: all of them",
        group="data",
        metavar="N",
        **more,
    )


def calib_images(default: int = 2000) -> Any:
    return option(
        default,
        help="training images that calibrate the conversion (each layer's activations)",
        group="conversion",
        metavar="N",
    )


def timesteps(default: int) -> Any:
    return option(
        default,
        help="T, the steps each test image is simulated",
        group="simulation",
        metavar="T",
        most=MOST_TIMESTEPS,
    )


def batch_size(default: int | tuple[int, ...] = 256, **more: Any) -> Any:
    return option(default, help="images per batch", group="simulation", metavar="N", **more)


def seed() -> Any:
    return option(
        0, help="seed of the random subsets, orders and initialisations", group="data", metavar="N"
    )


def device() -> Any:
    return option(
        "auto",
        help="torch device: auto (CUDA where torch sees a GPU, else the CPU), cpu, cuda or cuda:N",
        group="hardware",
        metavar="DEVICE",
    )


def out(default: Any = dataclasses.MISSING, default_text: str | None = None) -> Any:
    return option(
        default,
        help="the output folder (made if missing; a rerun into it resumes where the command can)",
        group="output",
        metavar="DIR",
        default_text=default_text,
    )


def progress() -> Any:
    return option(
        True,
        help="progress bars on the terminal (the log file gets plain lines either way)",
        group="output",
    )


def tensorboard(what: str) -> Any:
    return option(
        None,
        help=f"also write {what} as TensorBoard scalars to DIR (pip install "
        "'neurosnn[tensorboard]'; view with tensorboard --logdir DIR)",
        group="output",
        metavar="DIR",
    )


def percentile_of() -> Any:
    return option(
        "all",
        help="take each layer's percentile over all of its ReLU outputs, zeros included (the "
        "authors' code, the paper's 99.7), or over the positive ones (Rueckauer et al.)",
        group="conversion",
    )


def channelwise() -> Any:
    return option(
        False,
        help="one threshold per channel of every conv layer, each at its own percentile "
        "(folded into the weights)",
        group="conversion",
    )


def phi() -> Any:
    return option(
        0.0,
        help="initial membrane potential φ·θ of every IF layer, φ in [0, 1); 0.5 is the "
        "half-threshold start of Bu et al.",
        group="conversion",
        metavar="PHI",
    )


def delay() -> Any:
    return option(
        "layer",
        help="one step of delay per connection (the paper's counting) or none (the field's)",
        group="simulation",
    )


def presim(default: int | None = 0, default_text: str | None = None) -> Any:
    return option(
        default,
        help="SRP (Hao et al., AAAI 2023): TAU pre-simulation steps, then a fresh run with the "
        "neurons whose potential ended at or below zero silenced; use with --delay none",
        group="simulation",
        metavar="TAU",
        default_text=default_text,
    )


def snn() -> Any:
    return option(
        None,
        help="a saved SNN (.snn.h5 of convert, search, bptt or latency; or a NIR file) to work "
        "on instead of a network; its conversion is the file's",
        group="network",
        metavar="FILE",
    )


def search_folder() -> Any:
    return option(
        None,
        help="a neurosnn search output folder: its tuned SNN (OUT/optimized.snn.h5)",
        group="network",
        metavar="DIR",
    )


def repeats(default: int) -> Any:
    return option(
        default,
        help="timed repetitions of each measurement",
        group="evaluation",
        metavar="N",
    )


def bias_onset() -> Any:
    return option(
        "always",
        help="each layer's bias acts from step 1 (always: bindsnet's) or is withheld until "
        "the layer's input can arrive (input; with --delay layer)",
        group="simulation",
    )


def long_horizon() -> Any:
    return option(
        3,
        help="the baseline also runs to this many times T; its accuracy there is the long "
        "latency target",
        group="evaluation",
        metavar="K",
    )


def net(default: str | tuple[str, ...], **more: Any) -> Any:
    return option(
        default,
        help="a network of the registry: vgg5, vgg7, vgg9, vgg11, vgg13, vgg15, vgg16, lenet, "
        "resnet18, resnet20, the BackRes and STDP networks (neurosnn.networks.list_networks()); "
        "repeated, or separated by commas, where the command compares several",
        group="network",
        metavar="NAME",
        **more,
    )


def net_options(default: dict[str, Any], default_text: str | None = None) -> Any:
    return option(
        factory=lambda: dict(default),
        help="a network option, repeatable: width=0.25, pool=avg|max, bias=true, dropout=0.2, "
        "batch_norm=true, activation=relu|qcfs|nq (QCFS: Bu et al.; NQ: QCFS with the SNN's "
        "measured residual as noise), levels=L, qcfs_threshold=8",
        group="network",
        name="option",
        metavar="KEY=VALUE",
        default_text=default_text,
    )


def train_images(default: int) -> Any:
    return option(
        default,
        help="train on a seeded random N of the training images; 0: all of them",
        group="data",
        metavar="N",
    )


def epochs(default: int | None, default_text: str | None = None) -> Any:
    return option(
        default,
        help="epochs of training",
        group="training",
        metavar="N",
        default_text=default_text,
    )


def lr(default: float) -> Any:
    return option(default, help="the learning rate", group="training", metavar="LR")


def leak() -> Any:
    return option(0.99, help="the LIF neurons' leak per step", group="simulation", metavar="LEAK")


def percentile() -> Any:
    return option(
        99.7,
        help="every threshold at this percentile of its layer's ANN outputs, in (0, 100]",
        group="conversion",
        metavar="P",
    )


def population(default: int) -> Any:
    return option(
        default, help="P, the search's candidates per generation (>= 5)", group="search",
        metavar="P",
    )  # fmt: skip


def generations(default: int) -> Any:
    return option(
        default,
        help="G, the search's most generations (SciPy's tolerance may stop it sooner)",
        group="search",
        metavar="G",
    )


def images(default: int) -> Any:
    return option(
        default, help="E, the training images each candidate of the search is scored on",
        group="search", metavar="E",
    )  # fmt: skip


def preset(default: str) -> Any:
    return option(
        default,
        help="the search's hyper-parameters: a row of Table I (cifar10, cifar100-vgg15, "
        "cifar100-vgg11, imagenet, adversarial-…) or a size for 2 CPU cores (fashion-mnist, "
        "adversarial-fashion-mnist, quick); the search options override single values",
        group="search",
    )


def ray() -> Any:
    return option(
        None,
        help="run the job's units on a Ray cluster: 'local' (this machine) or a running "
        "cluster's HOST:PORT (pip install 'neurosnn[distributed]'): latency's checkpoints × "
        "recipes, the search's candidates; the files land in --out as a local run writes them",
        group="hardware",
        metavar="ADDRESS",
        name="ray",
    )


def gpus_per_task() -> Any:
    return option(
        0.0,
        help="with --ray: GPUs each task asks for (0.5: two share one); a task given a GPU "
        "runs on it",
        group="hardware",
        metavar="N",
    )
