"""Conversion of BackRes networks against the plain VGG of the same logical depth (Panda, Aketi
& Roy 2020, Table 2 and Fig. 7): accuracy at several T, unique parameters, energy efficiency,
and the thresholds of each unrolling step.

Each network (vgg7, vgg2x4, vgg3x2-v1 by default) is trained (a rerun into OUT reuses or resumes
its checkpoint in OUT/<net>/), converted at the 99.7 percentile with one threshold per
unrolling step, and simulated once for the largest T (the accuracy at a smaller T is the
curve's value there). Writes OUT/<net>/checkpoint.pt, OUT/<net>/convert.h5, OUT/plots/*.png,
OUT/summary.json, OUT/backres.log and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.backres import BackResConfig
from neurosnn.config.common import Data, Hardware, Output
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="backres",
    description=__doc__,
    parts=(
        Part("data", Data),
        Part("backres", BackResConfig),
        Part("output", Output),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.backres:run",
    examples=(
        "neurosnn backres --out runs/backres",
        "neurosnn backres --net vgg7 --net vgg2x4 --timesteps 50,100 --out runs/backres2",
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses

    from neurosnn.analysis.backres import plot_backres
    from neurosnn.experiments.common import claim_output, data_of, finish, say, setup_logging
    from neurosnn.jobs.backres import run_backres

    out = claim_output(job.output.out)
    setup_logging(out / "backres.log")
    job.write_config(out)
    cfg = dataclasses.replace(job.backres, device=job.hardware.apply())
    s = run_backres(cfg, data_of(job.data), out, job.output.progress)
    T = s["timesteps"]
    say(
        f"{'network':<12}{'params':>9}{'ANN':>8}"
        + "".join(f"{f'T={t}':>9}" for t in T)
        + f"{'EE':>7}{'EE spk':>8}"
    )
    for n, r in s["networks"].items():
        accs = "".join(f"{r['snn_accuracy'][str(t)]:>9.4f}" for t in T)
        say(
            f"{n:<12}{r['unique_parameters']:>9}{r['ann_accuracy']:>8.4f}{accs}"
            f"{r['energy']['efficiency']:>7.2f}{r['energy']['spiking_efficiency']:>8.2f}"
        )
        for conv, values in r["step_thresholds"].items():
            say(f"  {conv}: thresholds per unrolling step {[round(v, 3) for v in values]}")
    finish(out, s, plot_backres(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
