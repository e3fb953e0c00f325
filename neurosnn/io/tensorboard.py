"""TensorBoard scalars (``--tensorboard DIR``): a training's loss, test accuracy and seconds per
epoch, a search's best and mean cost and seconds per generation, written with
``torch.utils.tensorboard`` (the optional extra ``neurosnn[tensorboard]``). View them with
``tensorboard --logdir DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurosnn.errors import UserError


class Scalars:
    """One TensorBoard run folder; ``epoch`` and ``generation`` fit the callbacks of
    ``neurosnn.learn.train.train_ann`` and ``neurosnn.jobs.search.run_neuroevolution``."""

    def __init__(self, logdir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # torch imports the tensorboard package here
            raise UserError(
                "--tensorboard needs the tensorboard package: pip install 'neurosnn[tensorboard]'"
            ) from err
        self._writer = SummaryWriter(log_dir=str(logdir))

    def epoch(self, entry: dict[str, float]) -> None:
        """A training epoch's entry of the checkpoint's history."""
        for key in ("loss", "test_accuracy", "seconds"):
            self._writer.add_scalar(f"train/{key}", entry[key], int(entry["epoch"]))
        self._writer.flush()

    def generation(self, gen: Any) -> None:
        """A search generation (``neurosnn.search.de.Generation``)."""
        for key in ("best_cost", "mean_cost", "seconds"):
            self._writer.add_scalar(f"search/{key}", getattr(gen, key), gen.generation)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> Scalars:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
