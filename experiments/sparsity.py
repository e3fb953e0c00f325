"""Explicitly trained spiking sparsity (Allred, Spencer, Srinivasan & Roy, Tables 1–2): a LeNet
LIF SNN trained with ``L = CE + σ(spikeCount)`` under each σ schedule.

    python -m experiments.sparsity --out runs/sparsity

20% of the training subset is held out for validation. For every schedule (constant, linear,
quadratic, alternating, alternating-linear) and every σ₀ of ``--sigmas``, a network is trained
from the same initialisation; the largest σ₀ whose validation accuracy stays within
``--tolerance`` of the cross-entropy-only network's is kept, and its test accuracy and average
spike count per image are reported in the paper's table format, with the spike reduction
against the cross-entropy-only network. Writes OUT/sparsity.h5 (per schedule: σ₀, validation and
test accuracy, spikes per image), OUT/summary.json and OUT/plots/sparsity.png. The job is
``neurosnn.jobs.sparsity.run_sparsity``.
"""

from __future__ import annotations

import sys

from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_option_arg,
    add_out_arg,
    claim_output,
    config_from,
    data_of,
    finish,
    float_list,
    name_list,
    new_parser,
)
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.sparsity import SparsityConfig, run_sparsity
from neurosnn.learn.surrogate.sparsity import SCHEDULES


def build_parser():
    p = new_parser("python -m experiments.sparsity", __doc__)
    add_out_arg(p)
    p.add_argument(
        "--schedules",
        type=name_list(SCHEDULES),
        default=",".join(SCHEDULES),
        help="default: all five",
    )
    p.add_argument(
        "--sigmas",
        type=float_list,
        default="1e-5,3e-5,1e-4,3e-4",
        help="σ₀ grid (default: %(default)s)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="validation accuracy a σ₀ may lose against CE only (default: %(default)s)",
    )
    add_option_arg(p, "LeNet option, repeatable (default: none)")
    p.add_argument("--timesteps", type=int, default=10, help="T (default: %(default)s)")
    p.add_argument("--leak", type=float, default=0.99, help="default: %(default)s")
    p.add_argument("--epochs", type=int, default=3, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=1e-3, help="default: %(default)s")
    p.add_argument("--train-images", type=int, default=10000, help="default: %(default)s")
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    add_data_args(p)
    add_device_arg(p)
    return p


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    from neurosnn.analysis.sparsity import plot_sparsity

    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    cfg = config_from(args, SparsityConfig)
    data = data_of(args)
    s = run_sparsity(cfg, data, out)
    print(
        f"{'loss':<26}{'σ0':>9}{'epochs':>8}{'accuracy':>10}{'spikes/image':>14}{'reduction':>11}"
    )
    for r in s["table"]:
        loss = "C.E." if r["schedule"] == "none" else f"C.E. + σ_{r['schedule']}"
        print(
            f"{loss:<26}{r['sigma0']:>9.0e}{r['epochs']:>8}{r['test_accuracy']:>10.4f}"
            f"{r['spikes_per_image']:>14.0f}{100 * r['spike_reduction']:>10.1f}%"
        )
    finish(out, s, plot_sparsity(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
