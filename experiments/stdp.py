"""Layer-wise STDP + ReLU classifier against the same classifier on random frozen features
(Panda, Aketi & Roy 2020, §4.3, Tables 6 and 12), with and without BackRes.

    python -m experiments.stdp --out runs/stdp

For each network its convolutions are trained one at a time with STDP on --stdp-images
unlabelled training images (the paper: 5,000). The control is the same network with the same
random kernels, whose thresholds adapt the same way on --control-images but whose weights never
learn. Both are then frozen; the spike counts of their last layer over T steps feed a ReLU
classifier (FC1–FC2 and the deeper ConvNN) trained on --train-images labelled images and tested
on --test-images. Networks (32 maps per convolution, 2×2 OR-pooling, Fashion-MNIST 28×28):

| name | layers | logical depth | unique convolutions |
|---|---|---|---|
| stdp2 | C1(5×5) P C2 P | 2 | 2 |
| stdp3 | C1(5×5) P C2 C3 P | 3 | 3 |
| stdp2x2 | C1(5×5) P (C2)×2 P | 3 | 2 (BackRes, k×2 updates) |

Every stage is saved as it completes (OUT/<net>/stdp.pt, random.pt, features-*.pt), so an
interrupted run resumes. Writes OUT/stdp.h5 (kernels, thresholds, firing-rate histories),
OUT/plots/*.png and OUT/summary.json. The job is ``neurosnn.jobs.stdp.run_stdp``.
"""

from __future__ import annotations

import argparse
import sys

from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_out_arg,
    add_progress_arg,
    claim_output,
    config_from,
    data_of,
    finish,
    float_list,
    name_list,
    new_parser,
)
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.stdp import NETWORKS, STDPJobConfig, run_stdp
from neurosnn.learn.readout import CLASSIFIERS
from neurosnn.learn.stdp import BACKENDS, INHIBITIONS, RULES, STDPConfig


def build_parser() -> argparse.ArgumentParser:
    d = STDPConfig()
    p = new_parser("python -m experiments.stdp", __doc__)
    add_out_arg(p, "output folder (re-running resumes)")
    p.add_argument(
        "--nets",
        type=name_list(tuple(NETWORKS)),
        default="stdp2,stdp3,stdp2x2",
        help="default: %(default)s",
    )
    p.add_argument(
        "--classifiers",
        type=name_list(CLASSIFIERS),
        default=",".join(CLASSIFIERS),
        help="default: %(default)s",
    )
    p.add_argument("--rule", default=d.rule, choices=sorted(RULES), help="default: %(default)s")
    p.add_argument(
        "--nu",
        type=float_list,
        default=f"{d.nu[0]},{d.nu[1]}",
        help="learning rates pre (depression),post (potentiation) (default: %(default)s)",
    )
    p.add_argument(
        "--reduction", default=d.reduction, choices=("mean", "sum"), help="default: %(default)s"
    )
    p.add_argument(
        "--backend",
        default=d.backend,
        choices=BACKENDS,
        help="who computes the rule's update: BindsNET's own code, or the same update as "
        "convolution weight gradients (equal to float tolerance, faster) (default: %(default)s)",
    )
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="T (default: %(default)s)")
    p.add_argument(
        "--updates", type=int, default=d.updates, help="k per presentation (default: %(default)s)"
    )
    p.add_argument("--dropout", type=float, default=d.dropout, help="default: %(default)s")
    p.add_argument(
        "--inhibition",
        default=d.inhibition,
        choices=INHIBITIONS,
        help="lateral inhibition across maps: never, in the learning layer, or in every run "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--target-rate", type=float, default=d.target_rate, help="r* (default: %(default)s)"
    )
    p.add_argument("--stdp-images", type=int, default=5000, help="default: %(default)s")
    p.add_argument(
        "--control-images",
        type=int,
        default=1000,
        help="images on which the random control's thresholds adapt (default: %(default)s)",
    )
    p.add_argument("--stdp-batch", type=int, default=16, help="default: %(default)s")
    p.add_argument("--train-images", type=int, default=5000, help="labelled (default: %(default)s)")
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s")
    p.add_argument("--classifier-epochs", type=int, default=30, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    add_data_args(p)
    add_device_arg(p)
    add_progress_arg(p)
    return p


def config(args: argparse.Namespace) -> STDPJobConfig:
    return config_from(args, STDPJobConfig, stdp=config_from(args, STDPConfig))


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    from neurosnn.analysis.stdp import plot_stdp

    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    cfg = config(args)
    data = data_of(args)
    s = run_stdp(cfg, data, out, not args.no_progress)
    print(f"{'network':<9}{'classifier':<11}{'STDP':>8}{'random':>8}{'EE':>7}{'EE conv':>9}")
    for name, r in s["networks"].items():
        for clf in cfg.classifiers:
            a, c = r["stdp"]["classifiers"][clf], r["random"]["classifiers"][clf]
            print(
                f"{name:<9}{clf:<11}{a['accuracy']:>8.4f}{c['accuracy']:>8.4f}"
                f"{a['energy']['efficiency']:>7.2f}{a['energy']['spiking_efficiency']:>9.2f}"
            )
    finish(out, s, plot_stdp(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
