"""Layer-wise STDP and a ReLU classifier against the same classifier on random frozen features
(Panda, Aketi & Roy 2020, §4.3, Tables 6 and 12), with and without BackRes.

For each network its convolutions are trained one at a time with STDP on --stdp-images
unlabelled training images (the paper: 5,000). The control is the same network with the same
random kernels, whose thresholds adapt the same way on --control-images but whose weights never
learn. Both are then frozen; the spike counts of their last layer over T steps feed a ReLU
classifier (FC1–FC2, or the deeper ConvNN) trained on --train-images labelled images and tested
on the test images. Two more controls see no STDP: the same classifier on the raw pixels, and
the same topology as an ANN trained end to end on the labelled images. The networks (32 maps
per convolution, 2×2 OR-pooling, 28×28 inputs): stdp2 is C1(5×5) P C2 P; stdp3 is C1(5×5) P
C2 C3 P; stdp2x2 is C1(5×5) P (C2)×2 P (BackRes, k×2 updates).

Every stage is saved as it completes (OUT/<net>/stdp.pt, random.pt, features-*.pt), so a rerun
into OUT resumes. Writes OUT/stdp.h5 (kernels, thresholds, firing-rate histories, and per
layer and batch the kernels' change and mutual similarity), OUT/plots/*.png, OUT/summary.json,
OUT/stdp.log and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.common import Data, Hardware, Output
from neurosnn.config.stdp import STDPJobConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="stdp",
    description=__doc__,
    parts=(
        Part("data", Data),
        Part("stdp", STDPJobConfig),
        Part("output", Output),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.stdp:run",
    examples=(
        "neurosnn stdp --out runs/stdp",
        "neurosnn stdp --net stdp2 --classifiers fc --stdp-images 1000 --out runs/stdp_quick",
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses

    from neurosnn.analysis.stdp import plot_stdp
    from neurosnn.experiments.common import claim_output, data_of, finish, say, setup_logging
    from neurosnn.jobs.stdp import run_stdp

    out = claim_output(job.output.out)
    setup_logging(out / "stdp.log")
    job.write_config(out)
    cfg = dataclasses.replace(job.stdp, device=job.hardware.apply())
    s = run_stdp(cfg, data_of(job.data), out, job.output.progress)
    kinds = {"stdp": "STDP", "random": "random", "pixels": "pixels", "ann": "ANN"}
    head = f"{'network':<9}{'classifier':<11}" + "".join(f"{k:>8}" for k in kinds.values())
    say(f"{head}{'EE':>7}{'EE conv':>9}")
    for name, r in s["networks"].items():
        for clf in cfg.classifiers:
            acc = "".join(f"{r[k]['classifiers'][clf]['accuracy']:>8.4f}" for k in kinds)
            e = r["stdp"]["classifiers"][clf]["energy"]
            say(f"{name:<9}{clf:<11}{acc}{e['efficiency']:>7.2f}{e['spiking_efficiency']:>9.2f}")
    finish(out, s, plot_stdp(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
