"""Explicitly trained spiking sparsity (Allred, Spencer, Srinivasan & Roy, Tables 1–2): a LeNet
LIF SNN trained with L = CE + σ(spikeCount) under each σ schedule.

20% of the training subset is held out for validation. For every schedule (constant, linear,
quadratic, alternating, alternating-linear) and every σ₀ of --sigmas, a network is trained from
the same initialisation; the largest σ₀ whose validation accuracy stays within --tolerance of
the cross-entropy-only network's is kept, and its test accuracy and spikes per image are
reported in the paper's table format, with the spike reduction against cross-entropy alone.
Writes OUT/sparsity.h5 (per schedule: σ₀, validation and test accuracy, spikes per image),
OUT/summary.json, OUT/plots/sparsity.png, OUT/sparsity.log and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.common import Data, Hardware, Output
from neurosnn.config.sparsity import SparsityConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="sparsity",
    description=__doc__,
    parts=(
        Part("data", Data),
        Part("sparsity", SparsityConfig),
        Part("output", Output),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.sparsity:run",
    examples=(
        "neurosnn sparsity --out runs/sparsity",
        "neurosnn sparsity --schedules constant,linear --sigmas 1e-4 --out runs/sparsity1",
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses

    from neurosnn.analysis.sparsity import plot_sparsity
    from neurosnn.experiments.common import claim_output, data_of, finish, say, setup_logging
    from neurosnn.jobs.sparsity import run_sparsity

    out = claim_output(job.output.out)
    setup_logging(out / "sparsity.log")
    job.write_config(out)
    cfg = dataclasses.replace(job.sparsity, device=job.hardware.apply())
    s = run_sparsity(cfg, data_of(job.data), out)
    say(f"{'loss':<26}{'σ0':>9}{'epochs':>8}{'accuracy':>10}{'spikes/image':>14}{'reduction':>11}")
    for r in s["table"]:
        loss = "C.E." if r["schedule"] == "none" else f"C.E. + σ_{r['schedule']}"
        say(
            f"{loss:<26}{r['sigma0']:>9.0e}{r['epochs']:>8}{r['test_accuracy']:>10.4f}"
            f"{r['spikes_per_image']:>14.0f}{100 * r['spike_reduction']:>10.1f}%"
        )
    finish(out, s, plot_sparsity(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
