"""AGD training from scratch (Panda, Aketi & Roy 2020 §3.2, §5, §6): the same network as an LIF
SNN with a softmax or a stochmax classifier, and as a hybrid with its first layers ReLU.

    python -m experiments.agd --out runs/agd

Each variant is trained end to end with surrogate gradients (BPTT over T) on Fashion-MNIST
(a training subset) and evaluated on the test set: accuracy at every step (reported at
``--report-steps``), spikes per image, and energy efficiency against the same network as an ANN
(``neurosnn.measures.energy``; the ReLU layers of the hybrid count MACs). Writes OUT/agd.h5 (each
variant's accuracy per step and input spiking activity per layer), OUT/summary.json and
OUT/plots/agd.png. The job is ``neurosnn.jobs.agd.run_agd``.
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
    config_from,
    data_of,
    finish,
    int_list,
    name_list,
    new_parser,
)
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.agd import VARIANTS, AGDJobConfig, run_agd


def build_parser():
    p = new_parser("python -m experiments.agd", __doc__)
    add_out_arg(p)
    p.add_argument("--net", default="vgg5", help="registry network (default: %(default)s)")
    add_option_arg(p, "network option, repeatable (default: width=0.25)")
    p.add_argument(
        "--variants",
        type=name_list(VARIANTS),
        default=",".join(VARIANTS),
        help="default: %(default)s",
    )
    p.add_argument("--timesteps", type=int, default=25, help="T (default: %(default)s)")
    p.add_argument("--report-steps", type=int_list, default="5,10,25", help="default: %(default)s")
    p.add_argument("--hybrid-relu-layers", type=int, default=2, help="default: %(default)s")
    p.add_argument("--leak", type=float, default=0.99, help="LIF leak per step (default: 0.99)")
    p.add_argument("--epochs", type=int, default=2, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam (default: %(default)s)")
    p.add_argument("--train-images", type=int, default=10000, help="default: %(default)s")
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    add_data_args(p)
    add_device_arg(p)
    add_progress_arg(p)
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    from neurosnn.analysis.agd import plot_agd

    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    cfg = config_from(args, AGDJobConfig)
    data = data_of(args)
    s = run_agd(cfg, data, out, not args.no_progress)
    for variant, r in s["variants"].items():
        acc = ", ".join(f"T={t}: {a:.4f}" for t, a in r["accuracy_at"].items())
        print(
            f"{variant:<9} {acc}; spikes/image {r['spikes_per_image']:.0f}; "
            f"EE {r['energy']['efficiency']:.2f}"
        )
    finish(out, s, plot_agd(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
