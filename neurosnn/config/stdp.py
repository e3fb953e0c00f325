"""What layer-wise STDP and the unsupervised experiment depend on (Panda, Aketi & Roy 2020,
§3.2.3 and §4.3; ``neurosnn.learn.stdp``, ``neurosnn.jobs.stdp``, ``neurosnn stdp``); without
torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError

Rule = Literal["postpre", "weight-dependent"]
Inhibition = Literal["off", "learning", "always"]
INHIBITIONS: tuple[str, ...] = get_args(Inhibition)
Homeostasis = Literal["layer", "map"]
Coding = Literal["rate", "latency"]
Backend = Literal["bindsnet", "torch"]
BACKENDS: tuple[str, ...] = get_args(Backend)
# the paper's Fashion-MNIST networks (neurosnn.jobs.stdp.NETWORKS), and the classifiers on them
StdpNet = Literal["stdp2", "stdp3", "stdp2x2"]
Classifier = Literal["fc", "convnn", "linear"]


@dataclass(frozen=True)
class STDPConfig:
    """Neurons, rule and competition of layer-wise STDP (defaults: see ``neurosnn.learn.stdp``)."""

    rule: Rule = option(
        "postpre",
        help="BindsNET's PostPre rule, or its weight-dependent (soft-bound) form",
        group="training",
    )
    nu: tuple[float, float] = option(
        (1e-4, 1e-3),
        help="the learning rates pre (depression),post (potentiation)",
        group="training",
        metavar="NU",
    )
    nu_decay: float = option(
        1.0,
        help="the learning rates at the end of a layer's training as a fraction of NU, reached "
        "geometrically batch by batch (1: constant)",
        group="training",
        metavar="F",
    )
    reduction: Literal["mean", "sum"] = option(
        "mean", help="how a mini-batch's correlations are reduced", group="training"
    )
    backend: Backend = option(
        "bindsnet",
        help="who computes the rule's update: BindsNET's own code, or the same update as "
        "convolution weight gradients (equal to float tolerance, faster)",
        group="training",
    )
    timesteps: int = fields.timesteps(100)
    updates: int = option(
        10, help="k, the rule's updates per presentation", group="training", metavar="K"
    )
    tc_decay: float = 100.0  # LIF membrane time constant, steps
    tc_trace: float = 20.0  # STDP trace time constant, steps
    coding: Coding = option(
        "rate",
        help="the input spikes: Bernoulli with a probability per step of half the pixel's "
        "value (rate), or one spike per pixel and window, brighter pixels earlier (latency: "
        "rank-order coding, Kheradpisheh et al. 2018)",
        group="training",
    )
    input_rate: float = 0.5  # spike probability per step of a white pixel (rate coding)
    theta0: float = 1.0
    target_rate: float = option(
        0.01,
        help="r*, the spikes per neuron per step the adaptive thresholds hold",
        group="training",
        metavar="RATE",
    )
    threshold_lr: float = 0.05  # η_θ
    homeostasis: Homeostasis = option(
        "map",
        help="the adaptive threshold: one per layer (Lee et al. 2018b) or one per feature map, "
        "each held at the target rate (Diehl & Cook 2015's homeostasis, per map)",
        group="training",
    )
    dropout: float = option(
        0.2, help="p, per feature map and presentation", group="training", metavar="P"
    )
    inhibition: Inhibition = option(
        "learning",
        help="lateral inhibition across maps: never, in the learning layer, or in every run",
        group="training",
    )
    winners: int = option(
        0,
        help="k winners-take-all: per image and window only the k maps that fired most learn "
        "(Kheradpisheh et al. 2018); 0: every map learns",
        group="training",
        metavar="K",
    )
    decorrelation: float = option(
        0.0,
        help="after every update, move each unit kernel by this fraction of its projections "
        "onto the other kernels of its layer, away from them (0: off; see "
        "neurosnn.learn.competition.decorrelate)",
        group="training",
        metavar="RATE",
    )
    kernel_norm: float = 1.0
    wmin: float = -1.0
    wmax: float = 1.0

    def __post_init__(self) -> None:
        if self.rule not in get_args(Rule):
            raise UserError(f"rule must be one of {get_args(Rule)}, got {self.rule!r}")
        if self.homeostasis not in get_args(Homeostasis):
            raise UserError(
                f"homeostasis must be one of {get_args(Homeostasis)}, got {self.homeostasis!r}"
            )
        if self.backend not in BACKENDS:
            raise UserError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.reduction not in ("mean", "sum"):
            raise UserError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        if len(self.nu) != 2 or min(self.nu) < 0:
            raise UserError(f"nu must be two learning rates >= 0, got {self.nu}")
        if self.timesteps < 1 or not 1 <= self.updates <= self.timesteps:
            raise UserError(
                f"need timesteps >= 1 and 1 <= updates <= timesteps, got {self.timesteps}, "
                f"{self.updates}"
            )
        if self.timesteps % self.updates:
            raise UserError(f"updates ({self.updates}) must divide timesteps ({self.timesteps})")
        if self.inhibition not in INHIBITIONS:
            raise UserError(f"inhibition must be one of {INHIBITIONS}, got {self.inhibition!r}")
        if self.coding not in get_args(Coding):
            raise UserError(f"coding must be one of {get_args(Coding)}, got {self.coding!r}")
        if not 0 < self.nu_decay <= 1:
            raise UserError(f"nu_decay must be in (0, 1], got {self.nu_decay}")
        if self.winners < 0:
            raise UserError(f"winners must be >= 0 (0: every map learns), got {self.winners}")
        if not 0 <= self.decorrelation < 1:
            raise UserError(f"decorrelation must be in [0, 1), got {self.decorrelation}")
        if not 0 < self.input_rate <= 1:
            raise UserError(f"input_rate must be in (0, 1], got {self.input_rate}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.target_rate < 1:
            raise UserError(f"target_rate must be in (0, 1), got {self.target_rate}")
        if min(self.tc_decay, self.tc_trace, self.theta0, self.kernel_norm) <= 0:
            raise UserError("tc_decay, tc_trace, theta0 and kernel_norm must be > 0")
        if not self.wmin < 0 < self.wmax:
            raise UserError(f"need wmin < 0 < wmax, got {self.wmin}, {self.wmax}")

    @property
    def window(self) -> int:
        """Steps between two updates, T / k."""
        return self.timesteps // self.updates


@dataclass(frozen=True)
class STDPJobConfig:
    """The networks, the STDP rule and the sizes of every stage."""

    nets: tuple[StdpNet, ...] = fields.net(get_args(StdpNet), name="net", deprecated=("--nets",))
    classifiers: tuple[Classifier, ...] = option(
        get_args(Classifier),
        help="the classifiers trained on the last layer's spike counts, repeated or separated "
        "by commas",
        group="training",
        metavar="KIND",
    )
    stdp: STDPConfig = option(
        STDPConfig(),
        help="layer-wise STDP",
        group="training",
        expose=(
            "rule", "nu", "nu_decay", "reduction", "backend", "timesteps", "updates",
            "dropout", "inhibition", "winners", "decorrelation", "target_rate", "homeostasis",
            "coding",
        ),
    )  # fmt: skip
    stdp_images: int = option(
        5000,
        help="the unlabelled training images STDP learns from (the paper: 5,000)",
        group="data",
        metavar="N",
    )
    control_images: int = option(
        1000,
        help="the images on which the random control's thresholds adapt",
        group="data",
        metavar="N",
    )
    stdp_batch: int = option(16, help="images per STDP mini-batch", group="training", metavar="N")
    train_images: int = fields.train_images(5000)  # labelled, for the classifier
    test_images: int = fields.test_images()
    classifier_epochs: int = option(
        30, help="epochs of the classifiers' training", group="training", metavar="N"
    )
    seed: int = fields.seed()
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name, known in (("nets", get_args(StdpNet)), ("classifiers", get_args(Classifier))):
            given = getattr(self, name)
            if not given or set(given) - set(known):
                raise UserError(f"{name} must be among {', '.join(known)}, got {given}")
        for name in ("stdp_images", "control_images", "stdp_batch"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_images", "test_images"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be >= 0 (0: all), got {getattr(self, name)}")
