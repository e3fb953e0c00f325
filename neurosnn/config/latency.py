"""What the latency job (``neurosnn.jobs.latency.measure_latency``) runs; without torch."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.config.recipe import SEARCH, Preparation, Recipe
from neurosnn.config.search import SearchConfig
from neurosnn.errors import UserError


@dataclass(frozen=True)
class LatencyConfig:
    """What ``measure_latency`` runs.

    Attributes:
        recipes: recipes (``Recipe.parse``: a name of ``RECIPES`` or tokens joined by ``+``;
            default: every named recipe that applies to the model).
        timesteps: T of every test-set run.
        long_horizon: the baseline (``BASELINE``) also runs to this many times T; its
            accuracy there is the third target.
        test_images: seeded random test images (0: all).
        calib_images: training images calibrating the conversion.
        search: size and weights of the searches (P, G, E, α, β, γ …).
        eq11_timesteps: T of the Eq. 11 search (it must see the baseline's rise; default T).
        target_timesteps: T of the (θ, φ) search (the best recipes are level by then).
        search_keep_start: a search returns its best only where it costs strictly less on its
            images than the unsearched recipe, else the recipe as it was
            (``neurosnn.search.de.unless_beaten``; Lu & Sengupta return the best either way).
        batch_size: images per simulated batch.
        seed: seed of the test and calibration subsets.
    """

    recipes: tuple[str, ...] | None = option(
        None,
        help="the recipes to run: names or tokens joined by '+' (--list-recipes), repeated or "
        "separated by commas",
        group="conversion",
        metavar="RECIPE",
        default_text="every named recipe that applies to the network",
    )
    timesteps: int = fields.timesteps(128)
    long_horizon: int = fields.long_horizon()
    test_images: int = fields.test_images()
    calib_images: int = fields.calib_images()
    search: SearchConfig = option(
        SEARCH,
        help="the size of the recipes' searches",
        group="search",
        expose=("population", "generations", "images"),
    )
    eq11_timesteps: int | None = option(
        None,
        help="T of the Eq. 11 search (it must see the baseline's rise)",
        group="search",
        metavar="T",
        default_text="--timesteps",
    )
    target_timesteps: int = option(
        48,
        help="T of the (θ, φ) search and of the choice of the delayed readout's k",
        group="search",
        metavar="T",
    )
    search_keep_start: bool = option(
        False,
        help="a search returns its best only where it costs strictly less on its images than "
        "the recipe unsearched, else the recipe as it was (Lu & Sengupta: its best either way)",
        group="search",
    )
    batch_size: int = fields.batch_size(250)
    seed: int = fields.seed()

    def __post_init__(self) -> None:
        for recipe in self.recipes or ():
            Recipe.parse(recipe)  # one line naming the bad token
        if self.timesteps < 2 or self.long_horizon < 1 or self.target_timesteps < 2:
            raise UserError("timesteps and target_timesteps must be >= 2, long_horizon >= 1")
        for name, least in (("test_images", 0), ("calib_images", 1), ("batch_size", 1)):
            if getattr(self, name) < least:
                raise UserError(f"{name} must be >= {least}, got {getattr(self, name)}")

    @property
    def parsed(self) -> list[Recipe]:
        """The recipes asked for, parsed (empty: the default, every one that applies)."""
        return [Recipe.parse(r) for r in self.recipes or ()]

    @property
    def preparation(self) -> Preparation:
        """What preparing each recipe takes from this config (``neurosnn.jobs.prepare``)."""
        return Preparation(
            self.search,
            self.timesteps,
            self.eq11_timesteps,
            self.target_timesteps,
            self.search_keep_start,
            self.batch_size,
        )
