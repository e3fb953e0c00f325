"""What the latency job (``neurosnn.jobs.latency.measure_latency``) runs; without torch."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config.recipe import SEARCH, Preparation, Recipe
from neurosnn.errors import UserError
from neurosnn.search.config import SearchConfig


@dataclass(frozen=True)
class LatencyConfig:
    """What ``measure_latency`` runs.

    Attributes:
        recipes: recipes (``Recipe.parse``: a name of ``RECIPES`` or tokens joined by ``+``;
            default: every named recipe that applies to the model).
        timesteps: T of every test-set run.
        long_horizon: the baseline (``BASELINE``) also runs to this many times T; its
            accuracy there is the third target.
        test_images: seeded random test images (≥ 2,000 for the README's figures).
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

    recipes: tuple[str, ...] | None = None
    timesteps: int = 128
    long_horizon: int = 3
    test_images: int = 2000
    calib_images: int = 2000
    search: SearchConfig = SEARCH
    eq11_timesteps: int | None = None
    target_timesteps: int = 48
    search_keep_start: bool = False
    batch_size: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        for recipe in self.recipes or ():
            Recipe.parse(recipe)  # one line naming the bad token
        if self.timesteps < 2 or self.long_horizon < 1 or self.target_timesteps < 2:
            raise UserError("timesteps and target_timesteps must be >= 2, long_horizon >= 1")
        for name in ("test_images", "calib_images", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")

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
