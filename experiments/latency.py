"""How many timesteps does each low-latency recipe need? Converts each checkpoint under every
recipe (percentile over all or positive outputs, half-threshold initial potential, channel-wise
thresholds, bias onset, the paper's threshold search, the (θ, φ) search, and the trained λ of
a QCFS network), simulates the same test images and reports the steps to ANN − 1% / − 2% and
to the baseline's accuracy at a long horizon, the accuracy at t = 16, 32, 64 and T, and the
spikes per image; with several checkpoints (seeds) also their mean and range.

    python -m experiments.latency --checkpoint runs/fmnist_vgg9 --out runs/latency_vgg9

Writes OUT/<checkpoint folder>/<recipe>.h5 (run records), <recipe>_search/ (search state and
search.h5), plots/frontier.png and plots/accuracy.png, OUT/latency.json (every figure, the
aggregate over checkpoints and the command) and OUT/latency.log. A rerun keeps finished
records and resumes interrupted searches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_out_arg,
    add_progress_arg,
    add_source_args,
    claim_output,
    comma_list,
    load_source,
    new_parser,
    say,
    setup_logging,
)
from neurosnn.io.output import one_line_errors, write_json
from neurosnn.jobs.latency import (
    RECIPES,
    SEARCH,
    LatencyConfig,
    aggregate,
    measure_latency,
    sized_search,
)

COLUMNS = (
    ("steps_to_ann_minus_1pct", "ANN−1%", "steps"),
    ("steps_to_ann_minus_1pct_delay_none", "ANN−1%, delay none", "steps"),
    ("steps_to_ann_minus_2pct", "ANN−2%", "steps"),
    ("steps_to_long_target", "long target", "steps"),
    ("accuracy_at_16", "t=16", "%"),
    ("accuracy_at_32", "t=32", "%"),
    ("accuracy_at_64", "t=64", "%"),
    ("accuracy_at_T", "t=T", "%"),
    ("spikes_per_image", "spikes/image", "n"),
)


def build_parser() -> argparse.ArgumentParser:
    d = LatencyConfig()
    p = new_parser("python -m experiments.latency", __doc__)
    add_source_args(p, repeat=True)
    add_out_arg(p)
    p.add_argument(
        "--recipes",
        type=comma_list(str, "recipe names"),
        default=None,
        help="comma-separated recipes (default: every one that applies; the 'trained' ones "
        "need a network trained with --option activation=qcfs or nq): " + ", ".join(RECIPES),
    )
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="T (default: %(default)s)")
    p.add_argument(
        "--long-horizon",
        type=int,
        default=d.long_horizon,
        help="the 'all' baseline also runs to this many times T; its accuracy there is the "
        "long target (default: %(default)s)",
    )
    p.add_argument(
        "--test-images",
        type=int,
        default=d.test_images,
        help="seeded random test images every recipe runs on (default: %(default)s)",
    )
    p.add_argument(
        "--calib-images",
        type=int,
        default=d.calib_images,
        help="training images that calibrate the conversion (default: %(default)s)",
    )
    s = SEARCH
    p.add_argument(
        "--population", type=int, default=s.population, help="search P (default: %(default)s)"
    )
    p.add_argument(
        "--generations", type=int, default=s.generations, help="search G (default: %(default)s)"
    )
    p.add_argument(
        "--images", type=int, default=s.images, help="search images E (default: %(default)s)"
    )
    p.add_argument(
        "--eq11-timesteps",
        type=int,
        default=None,
        help="T of the Eq. 11 search (default: --timesteps; it must cover the baseline's rise)",
    )
    p.add_argument(
        "--target-timesteps",
        type=int,
        default=d.target_timesteps,
        help="T of the (theta, phi) search (default: %(default)s)",
    )
    p.add_argument(
        "--search-keep-start",
        action="store_true",
        help="a search returns its best only where it costs strictly less on its images than "
        "the recipe unsearched, else the recipe as it was (default: its best, as the paper)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the test/calibration subsets")
    add_data_args(p, dataset=False)
    add_device_arg(p)
    add_progress_arg(p)
    return p


def _cell(value, unit: str) -> str:
    if value is None:
        return "> T" if unit == "steps" else "–"
    if isinstance(value, dict):  # mean and range over checkpoints
        lo, hi = _cell(value["min"], unit), _cell(value["max"], unit)
        mean = _cell(value["mean"], unit)
        return mean if lo == hi else f"{mean} ({lo}–{hi})"
    if unit == "%":
        return f"{100 * value:.2f}"
    if unit == "n":
        return f"{value:,.0f}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def table(rows: dict[str, dict]) -> str:
    """A markdown table of recipes × figures."""
    head = "| recipe | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, m in rows.items():
        lines.append(
            f"| {name} | "
            + " | ".join(_cell(m[k], unit) if k in m else "–" for k, _, unit in COLUMNS)
            + " |"
        )
    return "\n".join(lines)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    cfg = LatencyConfig(
        recipes=args.recipes or None,
        timesteps=args.timesteps,
        long_horizon=args.long_horizon,
        test_images=args.test_images,
        calib_images=args.calib_images,
        search=sized_search(args.population, args.generations, args.images),
        eq11_timesteps=args.eq11_timesteps,
        target_timesteps=args.target_timesteps,
        search_keep_start=args.search_keep_start,
        seed=args.seed,
    )
    setup_logging(out / "latency.log")
    log = logging.getLogger("neurosnn.jobs.latency")
    start = time.perf_counter()
    reports, per_checkpoint = [], {}
    for which in range(len(args.checkpoint or args.weights or [None])):
        ckpt, data, path = load_source(args, which)
        # a checkpoint's run folder, or the weights file's name
        name = Path(path).parent.name if not args.model else Path(path).stem
        log.info("checkpoint %s (%s, %s)", name, ckpt.spec.name, ckpt.dataset)
        meta = {
            "checkpoint": path,
            "network": dataclasses.asdict(ckpt.spec),
            "dataset": ckpt.dataset,
        }
        folder = out / name
        report = measure_latency(
            ckpt.build(), data, cfg, folder, meta, device=args.device, progress=not args.no_progress
        )
        reports.append(report)
        per_checkpoint[name] = {
            "ann_accuracy": report.ann_accuracy,
            "depth": report.depth,
            "long_target": report.long_target,
            "zero_fraction": report.zero_fractions,
            "recipes": {
                r.recipe: {"metrics": r.metrics, "thresholds": r.thresholds, "phi": r.phi}
                for r in report.results
            },
        }
        from neurosnn.analysis.latency import plot_latency

        plot_latency({r.recipe: r.path for r in report.results}, folder / "plots")
        say(f"\n{name}: ANN {100 * report.ann_accuracy:.2f}%, depth {report.depth}")
        say(table({r.recipe: r.metrics for r in report.results}))
    summary = {
        "command": "python -m experiments.latency " + " ".join(argv or sys.argv[1:]),
        "config": dataclasses.asdict(cfg),
        "checkpoints": per_checkpoint,
        "aggregate": aggregate(reports),
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(out / "latency.json", json.loads(json.dumps(summary, default=str)))
    if len(reports) > 1:
        say(f"\nmean (range) over {len(reports)} checkpoints")
        say(table(summary["aggregate"]))
    say(f"\nfigures in {out / 'latency.json'}; {summary['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
