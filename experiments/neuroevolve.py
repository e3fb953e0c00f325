"""Tune one threshold per layer with differential evolution (Lu & Sengupta, Algorithm 1) and
compare the result with the uniform-percentile baseline on the test set: iso-accuracy and
iso-time latency, steps to ANN − 1%, the training cost, and the layers' PCA significance.

Writes OUT/search.h5 (history, thresholds, metrics, PCA significance), OUT/baseline.h5 and
OUT/optimized.h5 (test-set runs: neurosnn inspect, neurosnn plot), OUT/plots/*.png,
OUT/optimized.snn.h5 (the tuned SNN: neurosnn convert --snn), OUT/search_state.json (an
interrupted search resumes from it when rerun into OUT), OUT/summary.json, OUT/search.log and
OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.experiments.parser import Command
from neurosnn.experiments.parser import main as run_command
from neurosnn.experiments.search_args import RESUME, check, parts

COMMAND = Command(
    name="search",
    description=__doc__,
    parts=parts("fashion-mnist"),
    run="neurosnn.experiments.neuroevolve:run",
    examples=(
        "neurosnn search --checkpoint runs/fmnist_vgg9 --out runs/fmnist_vgg9_search",
        "neurosnn search --preset quick --checkpoint runs/quickstart/ann --out runs/quick_search",
        "neurosnn search --checkpoint runs/fmnist_vgg9 --objective steps-to-target --search-phi "
        "--phi 0.5 --bias-onset input --out runs/vgg9_theta_phi",
    ),
    retired={"--resume": RESUME},
    check=check,
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import numpy as np

    from neurosnn.analysis.neuroevolution import plot_search
    from neurosnn.experiments.common import finish, say, tensorboard_scalars
    from neurosnn.experiments.search_args import start
    from neurosnn.jobs.search import prepare, run_neuroevolution

    scfg, ecfg, out, ckpt, data = start(job)
    with tensorboard_scalars(job.scalars.tensorboard) as board:
        s = run_neuroevolution(
            prepare(scfg, ecfg, ckpt, data),
            scfg,
            ecfg,
            out,
            True,
            job.output.progress,
            on_generation=board and board.generation,
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
