"""Threshold search (DE) against BPTT fine-tuning from the same converted SNN (Lu & Sengupta
§V-C): accuracy vs timestep (Fig. 4) and memory / time per batch (Fig. 5, Eq. 19).

    python -m experiments.bptt_vs_de --checkpoint runs/fmnist_vgg9 \
        --search runs/fmnist_vgg9/ne --out runs/fmnist_vgg9/bptt

Fig. 4: the SNN converted at the 99.7 percentile is (a) simulated as is, (b) simulated with the
thresholds a threshold search found (``--search``: an ``experiments.neuroevolve`` output
folder; left out when not given) and (c) fine-tuned with BPTT (IF neurons unrolled over
``--bptt-timesteps`` steps, linear surrogate γ = 0.15, weights only), its weights exported back
into the BindsNET network and simulated like the others. Writes OUT/conversion.h5,
OUT/optimized.h5 and OUT/bptt.h5 (run records).

Fig. 5: for each T of ``--cost-timesteps`` the time and peak memory of one batch of SNN
inference (what the search spends its time on) and of one BPTT step (forward + backward) at the
same batch size (peak memory in a fresh process per entry: on a CPU an earlier call's freed memory
hides the growth), and the extrapolated running time of Eq. 19, ``τ̄ × training cost × D_train / B``
with the search's training cost (Eq. 17: E·G·P / D_train) and BPTT's 20 epochs.

Writes OUT/bptt.snn.h5 (the fine-tuned SNN), OUT/summary.json, OUT/bptt.log (also printed) and
OUT/plots/*.png. The job is ``neurosnn.jobs.bptt.run_bptt_vs_search``.
"""

from __future__ import annotations

import sys

from neurosnn.experiments.common import (
    add_checkpoint_arg,
    add_data_args,
    add_device_arg,
    add_out_arg,
    add_progress_arg,
    claim_output,
    config_from,
    finish,
    int_list,
    load_checkpoint_and_data,
    new_parser,
    setup_logging,
)
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.bptt import BPTTConfig, run_bptt_vs_search
from neurosnn.learn.surrogate.finetune import FinetuneConfig
from neurosnn.search.config import PRESETS


def build_parser():
    p = new_parser("python -m experiments.bptt_vs_de", __doc__)
    add_checkpoint_arg(p)
    add_out_arg(p)
    p.add_argument(
        "--search",
        default=None,
        help="an experiments.neuroevolve output folder whose optimised thresholds join Fig. 4",
    )
    p.add_argument("--timesteps", type=int, default=120, help="T of Fig. 4 (default: %(default)s)")
    p.add_argument("--test-images", type=int, default=2000, help="default: %(default)s; 0 = all")
    p.add_argument(
        "--bptt-timesteps", type=int, default=70, help="BPTT unrolling (paper: 70; default)"
    )
    p.add_argument("--bptt-epochs", type=int, default=1, help="default: %(default)s")
    p.add_argument(
        "--bptt-batches",
        type=int,
        default=None,
        help="batches per BPTT epoch (default: the whole training set)",
    )
    p.add_argument("--bptt-batch-size", type=int, default=32, help="default: %(default)s")
    p.add_argument("--bptt-lr", type=float, default=1e-4, help="Adam (default: %(default)s)")
    p.add_argument(
        "--cost-timesteps",
        type=int_list,
        default="5,25,50,75",
        help="T values of the cost table (Fig. 5; default: %(default)s)",
    )
    p.add_argument(
        "--cost-batch", type=int, default=32, help="batch of the cost table (default: %(default)s)"
    )
    p.add_argument("--repeats", type=int, default=5, help="timed batches per entry (default: 5)")
    p.add_argument(
        "--preset",
        default="fashion-mnist",
        choices=sorted(PRESETS),
        help="search whose E, G, P enter Eq. 19 when --search is not given (default: %(default)s)",
    )
    add_data_args(p, dataset=False)
    add_device_arg(p)
    add_progress_arg(p)
    return p


def config(args) -> BPTTConfig:
    finetune = FinetuneConfig(
        epochs=args.bptt_epochs,
        batch_size=args.bptt_batch_size,
        lr=args.bptt_lr,
        timesteps=args.bptt_timesteps,
        max_batches=args.bptt_batches,
    )
    return config_from(args, BPTTConfig, test_images=args.test_images or None, finetune=finetune)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    from neurosnn.analysis.bptt import plot_bptt

    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    cfg = config(args)
    setup_logging(out / "bptt.log")
    ckpt, data = load_checkpoint_and_data(cfg.checkpoint, cfg.data_root)
    s = run_bptt_vs_search(cfg, ckpt, data, out, not args.no_progress)
    print(
        f"final accuracy at T={cfg.timesteps}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in s["final_accuracy"].items())
    )
    for r in s["cost"]:
        inf_mib, bptt_mib = r["inference_peak_bytes"] / 2**20, r["bptt_peak_bytes"] / 2**20
        print(
            f"T={r['timesteps']:>3} batch {r['batch']}: inference "
            f"{r['inference_seconds_per_batch']:.3f} s {inf_mib:.0f} MiB, BPTT "
            f"{r['bptt_seconds_per_batch']:.3f} s {bptt_mib:.0f} MiB → time "
            f"×{r['time_ratio']:.1f}, memory ×{r['memory_ratio']:.1f}; Eq. 19 totals: search "
            f"{r['search_total_seconds'] / 3600:.2f} h, BPTT {r['bptt_total_seconds'] / 3600:.2f} h"
        )
    finish(out, s, plot_bptt(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
