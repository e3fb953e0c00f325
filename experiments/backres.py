"""Conversion of BackRes networks against the plain VGG of the same logical depth (Panda, Aketi
& Roy 2020, Table 2 and Fig. 7): accuracy at several T, unique parameters, energy efficiency,
and the thresholds of each unrolling step.

    python -m experiments.backres --out runs/backres

Each network (default vgg7, vgg2x4, vgg3x2-v1) is trained on Fashion-MNIST (or its checkpoint
in OUT/<net>/ reused: an interrupted run resumes), converted at the 99.7 percentile with one
threshold per unrolling step, and simulated once for the largest T (the accuracy at a smaller
T is the curve's value there). Writes OUT/<net>/checkpoint.pt, OUT/<net>/convert.h5,
OUT/plots/*.png and OUT/summary.json. The job is ``neurosnn.jobs.backres.run_backres``.
"""

from __future__ import annotations

import sys

from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_option_arg,
    add_out_arg,
    add_progress_arg,
    claim_output,
    comma_list,
    config_from,
    data_of,
    finish,
    int_list,
    new_parser,
)
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.backres import BackResConfig, run_backres


def build_parser():
    p = new_parser("python -m experiments.backres", __doc__)
    add_out_arg(p)
    p.add_argument(
        "--nets",
        type=comma_list(str, "network names"),
        default="vgg7,vgg2x4,vgg3x2-v1",
        help="default: %(default)s",
    )
    add_option_arg(p, "network option, repeatable (default: width=0.25 batch_norm=true)")
    p.add_argument("--epochs", type=int, default=3, help="ANN training epochs (default: 3)")
    p.add_argument(
        "--train-images", type=int, default=20000, help="training subset (default: %(default)s)"
    )
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s")
    p.add_argument(
        "--timesteps",
        type=int_list,
        default="50,100,200",
        help="T values to report (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    add_data_args(p)
    add_device_arg(p)
    add_progress_arg(p)
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    from neurosnn.analysis.backres import plot_backres

    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    cfg = config_from(args, BackResConfig)
    data = data_of(args)
    s = run_backres(cfg, data, out, not args.no_progress)
    T = s["timesteps"]
    print(
        f"{'network':<12}{'params':>9}{'ANN':>8}"
        + "".join(f"{f'T={t}':>9}" for t in T)
        + f"{'EE':>7}{'EE spk':>8}"
    )
    for n, r in s["networks"].items():
        accs = "".join(f"{r['snn_accuracy'][str(t)]:>9.4f}" for t in T)
        print(
            f"{n:<12}{r['unique_parameters']:>9}{r['ann_accuracy']:>8.4f}{accs}"
            f"{r['energy']['efficiency']:>7.2f}{r['energy']['spiking_efficiency']:>8.2f}"
        )
        for conv, values in r["step_thresholds"].items():
            print(f"  {conv}: thresholds per unrolling step {[round(v, 3) for v in values]}")
    finish(out, s, plot_backres(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
