"""Tune one threshold per layer with differential evolution (Lu & Sengupta) and compare the
result with the uniform-percentile baseline on the test set.

    python -m experiments.neuroevolve --preset fashion-mnist --checkpoint runs/fmnist_vgg9 \
        --out runs/fmnist_vgg9/ne

Writes OUT/search.h5 (history, thresholds, metrics, PCA significance), OUT/baseline.h5 and
OUT/optimized.h5 (test-set runs, readable by analysis.inspect/plot), OUT/plots/*.png,
OUT/optimized.snn.h5 (the tuned SNN: neurosnn.io.snnfile.load_snn, experiments.convert --snn),
OUT/search_state.json (for --resume), OUT/summary.json (with every setting) and OUT/search.log
(the settings and a line per generation, also printed).
"""

from __future__ import annotations

import sys

import numpy as np

from neurosnn.analysis.neuroevolution import plot_search
from neurosnn.experiments.common import (
    add_tensorboard_arg,
    claim_output,
    finish,
    load_source,
    say,
    setup_logging,
    tensorboard_scalars,
)
from neurosnn.experiments.search_args import build_parser, configs
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.search import prepare, run_neuroevolution


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = build_parser("python -m experiments.neuroevolve", __doc__, "fashion-mnist")
    add_tensorboard_arg(parser, "each generation's best and mean cost and seconds")
    args = parser.parse_args(argv)
    out = claim_output(args.out)
    scfg, ecfg = configs(args)
    setup_logging(out / "search.log")
    ckpt, data, _ = load_source(args)
    with tensorboard_scalars(args) as scalars:
        s = run_neuroevolution(
            prepare(scfg, ecfg, ckpt, data),
            scfg,
            ecfg,
            out,
            args.resume,
            not args.no_progress,
            on_generation=scalars and scalars.generation,
        )
    imp = s["latency_improvement"]
    say(
        f"baseline (uniform {scfg.initial_percentile} percentile): final accuracy "
        f"{s['baseline_final_accuracy']:.4f}; optimised: {s['optimized_final_accuracy']:.4f}"
    )
    say(
        f"iso-accuracy latency at {s['iso_accuracy_target']:.4f}: baseline step "
        f"{s['baseline_steps_to_target']}, optimised step {s['optimized_steps_to_target']}"
        f" → improvement {'n/a' if imp is None else f'{100 * imp:.1f}%'}"
    )
    b, o = s["baseline_latency"], s["optimized_latency"]
    say(
        f"steps to ANN - 1% ({100 * (s['ann_accuracy'] - 0.01):.2f}%): baseline "
        f"{b['steps_to_ann_minus_1pct']}, optimised {o['steps_to_ann_minus_1pct']}; to ANN - 2%: "
        f"{b['steps_to_ann_minus_2pct']}, {o['steps_to_ann_minus_2pct']}; to the baseline's "
        f"accuracy at t={s['long_horizon']} ({100 * s['baseline_accuracy_at_long_horizon']:.2f}%): "
        f"{b['steps_to_long_target']}, {o['steps_to_long_target']} (None: not within T)"
    )
    say(
        f"iso-time accuracy gain at t={s['iso_time_step']}: "
        f"{100 * s['iso_time_accuracy_gain']:+.2f} points"
    )
    say(f"thresholds (percentiles): {np.round(s['thresholds_percentile'] or [], 3).tolist()}")
    say(
        f"nfe {s['nfe']}, training cost {s['training_cost']:.3f}, search "
        f"{s['search_seconds']:.0f} s (median generation "
        f"{np.median(s['seconds_per_generation']):.1f} s); threshold-PCA correlation "
        f"{s['threshold_pca_correlation']:.2f}"
    )
    finish(out, s, plot_search(out, out / "plots"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
