"""Where a sweep's units run: this process, or tasks on a Ray cluster; without torch."""

from __future__ import annotations

from dataclasses import dataclass

from neurosnn.config import fields
from neurosnn.config.fields import option
from neurosnn.errors import UserError


@dataclass(frozen=True)
class Cluster:
    """A Ray cluster that runs a sweep's units (``neurosnn.jobs.sweep``).

    Attributes:
        ray_address: ``"local"`` (a cluster of this machine, started for the job) or a running
            cluster's ``HOST:PORT``; None: every unit in this process.
        cpus_per_task: the CPUs each unit asks for (its torch threads).
        gpus_per_task: the GPUs each unit asks for (a fraction shares one); a unit given one
            runs on it.
    """

    ray_address: str | None = fields.ray()
    cpus_per_task: float = option(
        1.0,
        help="with --ray: CPUs each task asks for (its torch threads)",
        group="hardware",
        metavar="N",
    )
    gpus_per_task: float = fields.gpus_per_task()

    def __post_init__(self) -> None:
        if self.cpus_per_task <= 0 or self.gpus_per_task < 0:
            raise UserError(
                f"cpus_per_task must be > 0 and gpus_per_task >= 0, found {self.cpus_per_task} "
                f"and {self.gpus_per_task}"
            )
        if self.ray_address is None and (self.cpus_per_task != 1.0 or self.gpus_per_task):
            raise UserError("cpus_per_task and gpus_per_task: go with --ray")
