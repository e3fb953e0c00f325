"""Recipes: how an ANN becomes an SNN and how that SNN is run, as a small language.

A recipe is tokens joined by ``+``, in any order; ``Recipe.parse`` reads it into the
``Recipe`` dataclass, checks that its tokens go together (a conflicting pair is one error
naming both) and ``str(recipe)`` prints it back in one canonical order::

    >>> str(Recipe.parse("onset+phi=0.5+channelwise"))
    'channelwise+phi=0.5+onset'
    >>> Recipe.parse("phi+onset") == Recipe.parse("onset+phi=0.5")
    True

The names the latency tables used before the grammar (``phi+onset+channelwise+search-k+delayed``
…) are aliases of token strings (``ALIASES``): each parses to the recipe it always meant, and a
recipe that has such a name keeps it as its ``name`` (the file names of its runs), so kept
folders and the leaderboard still read. ``explain()`` is the table of tokens with their papers.

``SEARCH`` is the size and weights of a recipe's search. This module imports neither torch nor
bindsnet: the command line parses recipes before it loads them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from neurosnn.config.search import SearchConfig
from neurosnn.conversion.options import BALANCE_ITERATIONS, THRESHOLD_SOURCES, ThresholdSource
from neurosnn.errors import UserError
from neurosnn.simulation.options import BIAS_ONSETS, DELAYS, BiasOnset, Delay, check_presim
from neurosnn.snn.options import PERCENTILE_OF, PercentileOf, check_phi

if TYPE_CHECKING:  # the recipe's data and grammar need neither torch nor bindsnet
    from torch import nn

    from neurosnn.snn.network import ConvertedSNN

SearchKind = Literal["none", "eq11", "theta-phi", "theta-phi-delayed"]
SEARCHES: tuple[str, ...] = ("none", "eq11", "theta-phi", "theta-phi-delayed")
# light: biases; advanced: potentials (the authors' CIFAR script); weights: weights on 1,024
# images, then potentials (their ImageNet script)
CALIBRATIONS: tuple[str, ...] = ("none", "light", "advanced", "weights")
# the search kinds as the grammar spells them
SEARCH_TOKENS = {"eq11": "eq11", "theta-phi": "theta-phi", "theta-phi-k": "theta-phi-delayed"}


@dataclass(frozen=True)
class Recipe:
    """Conversion and timing options of an SNN, and the threshold search run on top.

    Attributes:
        percentile: every threshold at this percentile of its layer's ANN outputs.
        percentile_of: the percentile over ``"all"`` of a layer's ReLU outputs, zeros included
            (Lu & Sengupta's code, the paper's baseline) or over the ``"positive"`` ones
            (Rueckauer et al. 2017).
        channelwise: one threshold per channel, folded into the weights.
        phi: initial potential ``φ·θ`` (0.5: the half-threshold shift of Bu et al., ICLR 2022).
        delay: ``"layer"``: one step per connection (Lu & Sengupta's counting); ``"none"``:
            the field's counting.
        bias_onset: ``"input"``: each layer's bias withheld until its input can arrive (with
            the layer delay).
        search: the paper's DE search of the thresholds (``"eq11"``, fixed mini-dataset S), the
            search of (θ, φ) per layer with the steps to ANN − 1% on S as its cost
            (``"theta-phi"``), or that search scoring each candidate's best readout delay
            (``"theta-phi-delayed"``, written ``search=theta-phi-k``).
        thresholds: ``"percentile"``, the ``"trained"`` λ of a QCFS network (Bu et al., ICLR
            2022), or ``"balanced"`` (local threshold balancing, Bu, Li & Yu, CVPR 2025).
        calibration: Li et al.'s calibration after the thresholds and φ are set (ICML 2021):
            ``"light"`` biases, ``"advanced"`` potentials, ``"weights"`` weights then
            potentials.
        calibration_timesteps: T of that calibration.
        delayed: delayed evaluation (Bu, Li & Yu, CVPR 2025): the readout ignores the first k
            steps, k chosen on training images; the k steps count in the latency.
        balance_iterations: batches of 100 calibration images the balancing learns on.
        presim: SRP's τ (Hao et al., AAAI 2023): τ pre-simulation steps, then a fresh run with
            the neurons whose potential ended at or below zero silenced (0: none).
    """

    percentile: float = 99.7
    percentile_of: PercentileOf = "all"
    channelwise: bool = False
    phi: float = 0.0
    delay: Delay = "layer"
    bias_onset: BiasOnset = "always"
    search: SearchKind = "none"
    thresholds: ThresholdSource = "percentile"
    calibration: Literal["none", "light", "advanced", "weights"] = "none"
    calibration_timesteps: int = 16
    delayed: bool = False
    balance_iterations: int = BALANCE_ITERATIONS  # the authors' 12; 200 where 12 clip too much
    presim: int = 0  # SRP's τ (0: none)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("percentile_of", self.percentile_of, PERCENTILE_OF),
            ("delay", self.delay, DELAYS),
            ("bias_onset", self.bias_onset, BIAS_ONSETS),
            ("search", self.search, SEARCHES),
            ("thresholds", self.thresholds, THRESHOLD_SOURCES),
            ("calibration", self.calibration, CALIBRATIONS),
        ):
            if value not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {value!r}")
        if not (math.isfinite(self.percentile) and 0 < self.percentile <= 100):
            raise UserError(f"percentile must be in (0, 100], got {self.percentile}")
        check_phi(self.phi)
        if self.search == "theta-phi-delayed" and not self.delayed:
            raise UserError("search 'theta-phi-delayed' scores the delayed readout: needs delayed")
        check_presim(self.presim)
        if self.presim and (self.delay != "none" or self.delayed or self.search == "eq11"):
            raise UserError(
                "presim (SRP) runs without the layer delay (delay='none'), without the delayed "
                "readout, and is searched by the (θ, φ) search only"
            )
        if self.calibration_timesteps < 1 or self.balance_iterations < 1:
            raise UserError("calibration_timesteps and balance_iterations must be >= 1")

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """The recipe ``text`` names: one of ``ALIASES``, or tokens joined by ``+`` (see
        ``explain()``); raises a ``UserError`` naming the token that is wrong, or both tokens
        of a pair that do not go together."""
        text = text.strip()
        if text in ALIASES:
            text = ALIASES[text]
        return _parse_tokens(text)

    def __str__(self) -> str:
        """The recipe's tokens in canonical order (defaults left out)."""
        d = Recipe()
        tokens = []
        if self.percentile != d.percentile:
            tokens.append(f"p={_number(self.percentile)}")
        if self.percentile_of != d.percentile_of:
            tokens.append(f"of={self.percentile_of}")
        if self.thresholds == "trained":
            tokens.append("trained")
        if self.thresholds == "balanced":
            n = self.balance_iterations
            tokens.append("balance" if n == BALANCE_ITERATIONS else f"balance={n}")
        if self.channelwise:
            tokens.append("channelwise")
        if self.phi != d.phi:
            tokens.append(f"phi={_number(self.phi)}")
        if self.delay != d.delay and not self.presim:  # srp implies delay=none
            tokens.append(f"delay={self.delay}")
        if self.bias_onset == "input":
            tokens.append("onset")
        if self.presim:
            tokens.append(f"srp={self.presim}")
        if self.search != "none":
            kind = next(t for t, s in SEARCH_TOKENS.items() if s == self.search)
            tokens.append(f"search={kind}")
        if self.calibration != "none":
            tokens.append(f"calib={self.calibration}")
            if self.calibration_timesteps != d.calibration_timesteps:
                tokens.append(f"calib-steps={self.calibration_timesteps}")
        if self.delayed:
            tokens.append("readout=delayed")
        return "+".join(tokens) or f"p={_number(d.percentile)}"

    @property
    def name(self) -> str:
        """The recipe's name in file names and tables: its name from before the grammar where
        it has one (so kept folders resume), else its canonical tokens."""
        return _NAMES.get(self, str(self))

    def before_search_ends(self) -> Recipe:
        """This recipe without what follows its search (calibration, and the delayed readout
        unless the search scores it): the recipe the search itself runs, which recipes that
        differ only in those share."""
        return dataclasses.replace(
            self, calibration="none", delayed=self.search == "theta-phi-delayed"
        )

    def convert(
        self, model: nn.Module, batches: list, input_shape: tuple[int, ...], device: str = "cpu"
    ) -> ConvertedSNN:
        """``model`` converted with this recipe's thresholds, φ and calibration batches."""
        from neurosnn.conversion.pipeline import convert

        return convert(
            model,
            batches,
            input_shape,
            self.percentile,
            device,
            percentile_of=self.percentile_of,
            channelwise=self.channelwise,
            phi=self.phi,
            thresholds=self.thresholds,
            balance_iterations=self.balance_iterations,
        )

    def set_on(self, snn: ConvertedSNN, trained: list[float]) -> None:
        """Reset a converted SNN to this recipe's thresholds (``trained``: those it was converted
        with, where they are not percentiles) and φ."""
        if self.thresholds != "percentile":
            snn.set_thresholds(trained)
        else:
            snn.set_percentiles(self.percentile)
        snn.set_phi(self.phi)

    def search_config(self, base: SearchConfig, timesteps: int, shift: int = 0) -> SearchConfig:
        """``base`` (the search's size and weights) run on this recipe's SNN: Eq. 11 over the
        thresholds, or the steps to ANN − 1% over (θ, φ); trained and balanced thresholds are
        searched as scales of theirs. ``theta-phi-delayed`` scores readout delays up to
        ``timesteps // 2`` (as ``choose_readout_after`` chooses k) plus ``shift`` (the steps a
        chain's delayed run is shifted by: its depth)."""
        recipe = dict(
            initial_percentile=self.percentile,
            percentile_of=self.percentile_of,
            channelwise=self.channelwise or self.thresholds == "balanced",
            phi=self.phi,
            delay=self.delay,
            bias_onset=self.bias_onset,
            timesteps=timesteps,
            presim=self.presim,
        )
        if self.search in ("theta-phi", "theta-phi-delayed"):
            recipe.update(search_phi=True, objective="steps-to-target", target_drop=0.01)
        if self.search == "theta-phi-delayed":
            recipe.update(readout_delays=min(timesteps // 2 + shift, timesteps - 1))
        if self.thresholds != "percentile":
            recipe.update(parameterisation="scale", lower=None, upper=None)
        return dataclasses.replace(base, **recipe)

    def applies_to(self, qcfs: list[bool]) -> bool:
        """Trained thresholds need a QCFS network, channel-wise and balanced ones a ReLU
        network (``qcfs``: whether each IF layer's activation is QCFS)."""
        if self.thresholds == "trained":
            return all(qcfs)
        return not ((self.channelwise or self.thresholds == "balanced") and any(qcfs))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and value >= 1 else repr(float(value))


# token → (the field it sets, its value or None where the token carries one, what it means)
_FLAGS = {
    "trained": ("thresholds", "trained"),
    "channelwise": ("channelwise", True),
    "onset": ("bias_onset", "input"),
}
# the spellings of the names from before the grammar, accepted as tokens in any order
_SHORT = {
    "phi": "phi=0.5",
    "positive": "of=positive",
    "all": "of=all",
    "balanced": "balance",
    "delayed": "readout=delayed",
    "light": "calib=light",
    "advanced": "calib=advanced",
    "weights": "calib=weights",
}


def _parse_tokens(text: str) -> Recipe:
    if not text:
        raise UserError("a recipe needs at least one token (e.g. p=99.7)")
    given: dict[str, str] = {}  # field → the token that set it
    values: dict[str, object] = {}

    def put(token: str, name: str, value: object) -> None:
        if name in given:
            raise UserError(f"recipe {text!r}: {given[name]!r} and {token!r} both set {name}")
        given[name], values[name] = token, value

    for raw in text.split("+"):
        token = _SHORT.get(raw.strip(), raw.strip())
        if raw.strip().startswith("srp") and raw.strip()[3:].isdigit():  # srp4: srp=4
            token = f"srp={raw.strip()[3:]}"
        key, eq, value = token.partition("=")
        try:
            if key in _FLAGS and not eq:
                put(raw, *_FLAGS[key])
            elif key == "balance":
                put(raw, "thresholds", "balanced")
                if eq:
                    put(raw, "balance_iterations", int(value))
            elif key == "p" and eq:
                put(raw, "percentile", float(value))
            elif key == "of" and eq:
                put(raw, "percentile_of", value)
            elif key == "phi" and eq:
                put(raw, "phi", float(value))
            elif key == "delay" and eq:
                put(raw, "delay", value)
            elif key == "srp" and eq:
                put(raw, "presim", int(value))
            elif key == "search" and eq and value in SEARCH_TOKENS:
                put(raw, "search", SEARCH_TOKENS[value])
            elif key in ("search", "search-k"):
                raise UserError(
                    f"recipe {text!r}: {raw!r}: name the search, search=" + "|".join(SEARCH_TOKENS)
                )
            elif key == "calib" and eq:
                put(raw, "calibration", value)
            elif key == "calib-steps" and eq:
                put(raw, "calibration_timesteps", int(value))
            elif key == "readout" and value == "delayed":
                put(raw, "delayed", True)
            else:
                raise UserError(
                    f"recipe {text!r}: unknown token {raw!r} (tokens: neurosnn latency "
                    "--list-recipes)"
                )
        except UserError:
            raise
        except ValueError:  # int() or float() of what follows '='
            raise UserError(f"recipe {text!r}: {raw!r}: expected a number after '='") from None
    _check_pairs(text, given, values)
    if "presim" in values and "delay" not in values:
        values["delay"] = "none"  # SRP runs without the layer delay, as its authors run it
    try:
        return Recipe(**values)
    except UserError as err:
        raise UserError(f"recipe {text!r}: {err}") from None


def _check_pairs(text: str, given: dict[str, str], values: dict[str, object]) -> None:
    """Tokens that do not go together: one line naming both."""

    def clash(a: str, b: str, why: str) -> None:
        raise UserError(f"recipe {text!r}: {given[a]!r} and {given[b]!r}: {why}")

    source = values.get("thresholds")
    if source in ("trained", "balanced") and "percentile" in given:
        clash("thresholds", "percentile", f"{source} thresholds take no percentile")
    if values.get("bias_onset") == "input" and values.get("delay") == "none":
        clash("bias_onset", "delay", "onset withholds biases for the layer delay, none here")
    if "presim" in given:
        for other, why in (
            ("delay", "SRP runs without the layer delay"),
            ("delayed", "SRP has no delayed readout"),
            ("bias_onset", "SRP runs without the layer delay, where onset does nothing"),
        ):
            if other in given and (other != "delay" or values["delay"] != "none"):
                clash("presim", other, why)
        if values.get("search") == "eq11":
            clash("presim", "search", "SRP is searched by the (θ, φ) search only")
    if values.get("search") == "theta-phi-delayed" and not values.get("delayed"):
        raise UserError(
            f"recipe {text!r}: {given['search']!r} scores the delayed readout: add readout=delayed"
        )
    if "calibration_timesteps" in given and "calibration" not in given:
        raise UserError(f"recipe {text!r}: {given['calibration_timesteps']!r} needs calib=…")
    if "balance_iterations" in given and values["balance_iterations"] < 1:
        raise UserError(f"recipe {text!r}: {given['balance_iterations']!r}: must be >= 1")


# The latency tables' names from before the grammar, each the token string it stands for.
ALIASES: dict[str, str] = {
    "positive": "of=positive",
    "all": "p=99.7",
    "all+search": "search=eq11",
    "phi": "phi=0.5",
    "channelwise": "channelwise",
    "onset": "onset",
    "phi+onset": "phi=0.5+onset",
    "phi+onset+channelwise": "channelwise+phi=0.5+onset",
    "phi+onset+search": "phi=0.5+onset+search=theta-phi",
    "phi+onset+channelwise+search": "channelwise+phi=0.5+onset+search=theta-phi",
    "phi+onset+light": "phi=0.5+onset+calib=light",
    "phi+onset+channelwise+light": "channelwise+phi=0.5+onset+calib=light",
    "phi+onset+balanced": "balance+phi=0.5+onset",
    "phi+onset+balanced200": "balance=200+phi=0.5+onset",
    "phi+onset+balanced+search": "balance+phi=0.5+onset+search=theta-phi",
    "phi+onset+advanced": "phi=0.5+onset+calib=advanced",
    "phi+onset+channelwise+advanced": "channelwise+phi=0.5+onset+calib=advanced",
    "phi+onset+channelwise+delayed": "channelwise+phi=0.5+onset+readout=delayed",
    "phi+onset+channelwise+weights": "channelwise+phi=0.5+onset+calib=weights",
    "phi+onset+channelwise+weights+delayed": (
        "channelwise+phi=0.5+onset+calib=weights+readout=delayed"
    ),
    "phi+onset+channelwise+search+delayed": (
        "channelwise+phi=0.5+onset+search=theta-phi+readout=delayed"
    ),
    # the search, then the potential calibration on its thresholds, then k
    "phi+onset+channelwise+search+advanced+delayed": (
        "channelwise+phi=0.5+onset+search=theta-phi+calib=advanced+readout=delayed"
    ),
    "phi+onset+channelwise+advanced+delayed": (
        "channelwise+phi=0.5+onset+calib=advanced+readout=delayed"
    ),
    "phi+onset+balanced+delayed": "balance+phi=0.5+onset+readout=delayed",
    "trained+phi+onset+delayed": "trained+phi=0.5+onset+readout=delayed",
    "trained+phi+onset": "trained+phi=0.5+onset",
    "trained+phi+onset+advanced": "trained+phi=0.5+onset+calib=advanced",
    "trained+phi+onset+advanced+delayed": "trained+phi=0.5+onset+calib=advanced+readout=delayed",
    "trained+phi+onset+search": "trained+phi=0.5+onset+search=theta-phi",
    "trained+phi+onset+search+delayed": "trained+phi=0.5+onset+search=theta-phi+readout=delayed",
    # the search scored with its best readout delay (search-k), then k chosen as before
    "phi+onset+channelwise+search-k+delayed": (
        "channelwise+phi=0.5+onset+search=theta-phi-k+readout=delayed"
    ),
    "phi+onset+channelwise+search-k+advanced+delayed": (
        "channelwise+phi=0.5+onset+search=theta-phi-k+calib=advanced+readout=delayed"
    ),
    "trained+phi+onset+search-k+delayed": (
        "trained+phi=0.5+onset+search=theta-phi-k+readout=delayed"
    ),
    # the same search scored without the layer delay, as the field counts: in a graph the
    # delayed and undelayed runs are not shifts of each other, so a search scored with the
    # layer delay need not shorten the undelayed count (a chain's is the same either way)
    "trained+phi+search-k+delayed": (
        "trained+phi=0.5+delay=none+search=theta-phi-k+readout=delayed"
    ),
    "phi+channelwise+search-k+delayed": (
        "channelwise+phi=0.5+delay=none+search=theta-phi-k+readout=delayed"
    ),
    # SRP with τ = 4 (the authors' CIFAR setting) and 2, without the layer delay
    "trained+phi+srp2": "trained+phi=0.5+srp=2",
    "trained+phi+srp4": "trained+phi=0.5+srp=4",
    "phi+channelwise+srp4": "channelwise+phi=0.5+srp=4",
    "phi+channelwise+srp4+search": "channelwise+phi=0.5+srp=4+search=theta-phi",
    "trained+phi+srp4+search": "trained+phi=0.5+srp=4+search=theta-phi",
}
RECIPES: dict[str, Recipe] = {name: _parse_tokens(tokens) for name, tokens in ALIASES.items()}
_NAMES = {recipe: name for name, recipe in RECIPES.items()}
BASELINE = "all"  # the recipe whose long-horizon accuracy is the third target

# the recipes' searches: the weights of Table I's CIFAR-10 row and a size for 2 CPU cores;
# tol 0: all G generations
SEARCH = SearchConfig(1, 10, 500, 99.7, 0.15, 10, 6, 500, tol=0.0)


def sized_search(population: int, generations: int, images: int) -> SearchConfig:
    """``SEARCH`` with another P, G and E."""
    return dataclasses.replace(
        SEARCH, population=population, generations=generations, images=images
    )


@dataclass(frozen=True)
class Preparation:
    """What preparing a recipe depends on beside the recipe.

    Attributes:
        search: size and weights of the searches (P, G, E, α, β, γ …).
        timesteps: T of the test runs; the Eq. 11 search's T unless ``eq11_timesteps``.
        eq11_timesteps: T of the Eq. 11 search (it must see the baseline's rise).
        target_timesteps: T of the (θ, φ) search and of the choice of the readout delay k.
        search_keep_start: a search returns its best only where it costs strictly less on its
            images than the unsearched recipe (``neurosnn.search.de.unless_beaten``).
        batch_size: images per simulated batch.
    """

    search: SearchConfig = SEARCH
    timesteps: int = 128
    eq11_timesteps: int | None = None
    target_timesteps: int = 48
    search_keep_start: bool = False
    batch_size: int = 250


# (token, what it does, where it comes from) for --list-recipes
TOKENS: tuple[tuple[str, str, str], ...] = (
    ("p=P", "every threshold at the P-th percentile of its layer's ANN outputs (99.7)",
     "Lu & Sengupta; Rueckauer et al. 2017"),
    ("of=all|positive", "that percentile over all of a layer's ReLU outputs, zeros included "
     "(the authors' code), or over the positive ones", "Lu & Sengupta's code; Rueckauer et al."),
    ("trained", "the trained clipping λ of a QCFS network as thresholds (train with --option "
     "activation=qcfs or nq)", "Bu et al., ICLR 2022"),
    ("balance[=N]", "local threshold balancing, one threshold per channel learnt on N batches "
     "of 100 calibration images (12)", "Bu, Li & Yu, CVPR 2025"),
    ("channelwise", "one threshold per channel of every conv layer, folded into the weights",
     "SpikingJelly's channel-wise mode"),
    ("phi=F", "initial potential F·θ of every neuron (phi alone: 0.5)", "Bu et al., ICLR 2022"),
    ("delay=layer|none", "one step per connection (the paper's counting) or none (the field's)",
     "Lu & Sengupta; the field"),
    ("onset", "each layer's bias withheld until its input can arrive (with the layer delay)",
     "neurosnn"),
    ("srp=N", "N pre-simulation steps, then a fresh run with the neurons whose potential ended "
     "at or below zero silenced (implies delay=none)", "Hao et al., AAAI 2023"),
    ("search=eq11", "the DE threshold search with the cost of Eq. 11 on a fixed mini-dataset",
     "Lu & Sengupta, Algorithm 1"),
    ("search=theta-phi", "DE over each layer's (θ, φ), costed by the steps to ANN − 1% on "
     "training images", "Lu & Sengupta's search, neurosnn's cost"),
    ("search=theta-phi-k", "that search scoring each candidate's best readout delay k (needs "
     "readout=delayed)", "neurosnn, after Bu, Li & Yu"),
    ("calib=light|advanced|weights", "after the thresholds: bias calibration, potential "
     "calibration, or weights then potentials", "Li et al., ICML 2021"),
    ("calib-steps=N", "T of that calibration (16)", "Li et al., ICML 2021"),
    ("readout=delayed", "the readout ignores the first k steps, k chosen on training images; "
     "the k steps count", "Bu, Li & Yu, CVPR 2025"),
)  # fmt: skip


def explain() -> str:
    """The tokens a recipe is made of, each with its paper, and the named recipes."""
    lines = ["A recipe is tokens joined by '+' in any order, e.g. trained+phi=0.5+readout=delayed"]
    lines.append("")
    width = max(len(t) for t, _, _ in TOKENS)
    for token, what, where in TOKENS:
        lines.append(f"  {token:<{width}}  {what} [{where}]")
    lines += ["", "Named recipes (the latency tables' names) and the tokens they stand for:", ""]
    width = max(map(len, ALIASES))
    lines += [f"  {name:<{width}}  {tokens}" for name, tokens in ALIASES.items()]
    return "\n".join(lines)
