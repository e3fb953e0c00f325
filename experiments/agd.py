"""AGD training from scratch (Panda, Aketi & Roy 2020 §3.2, §5, §6): the same network as an LIF
SNN with a softmax or a stochmax classifier, and as a hybrid with its first layers ReLU.

Each variant is trained end to end with surrogate gradients (BPTT over T) on a training subset
and evaluated on the test set: the accuracy at every step (printed at --report-steps), the
spikes per image, and the energy efficiency against the same network as an ANN (the ReLU layers
of the hybrid count MACs). Writes OUT/agd.h5 (each variant's accuracy per step and input
spiking activity per layer), OUT/summary.json, OUT/plots/agd.png, OUT/agd.log and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.agd import AGDJobConfig
from neurosnn.config.common import Data, Hardware, Output
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="agd",
    description=__doc__,
    parts=(
        Part("data", Data),
        Part("agd", AGDJobConfig),
        Part("output", Output),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.agd:run",
    examples=(
        "neurosnn agd --out runs/agd",
        "neurosnn agd --variants softmax,hybrid --epochs 1 --train-images 2000 --out runs/agd1",
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses

    from neurosnn.analysis.agd import plot_agd
    from neurosnn.experiments.common import claim_output, data_of, finish, say, setup_logging
    from neurosnn.jobs.agd import run_agd

    out = claim_output(job.output.out)
    setup_logging(out / "agd.log")
    job.write_config(out)
    cfg = dataclasses.replace(job.agd, device=job.hardware.apply())
    s = run_agd(cfg, data_of(job.data), out, job.output.progress)
    for variant, r in s["variants"].items():
        acc = ", ".join(f"T={t}: {a:.4f}" for t, a in r["accuracy_at"].items())
        say(
            f"{variant:<9} {acc}; spikes/image {r['spikes_per_image']:.0f}; "
            f"EE {r['energy']['efficiency']:.2f}"
        )
    finish(out, s, plot_agd(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
