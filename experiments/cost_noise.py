"""How noisy is the threshold search's cost? Scores the same candidates (the uniform baseline
and P − 1 draws of the initial population) on several random training subsets of E images and
compares three spreads: one candidate's cost across subsets (what a per-candidate draw adds to
every comparison), the difference between two candidates across subsets when they share the
images (what remains with one fixed S), and the spread of the candidates' mean costs (the
signal the search is after).

    python -m experiments.cost_noise --checkpoint runs/fmnist_vgg9 --out runs/fmnist_vgg9/noise

Writes OUT/noise.json (every cost, the spreads and the command).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

from neurosnn.evolve import PRESETS, Evaluator, cost_noise, initial_population
from neurosnn.experiments.common import (
    add_checkpoint_arg,
    add_data_args,
    add_device_arg,
    claim_output,
    load_checkpoint_and_data,
    new_parser,
)
from neurosnn.jobs.search import EvalConfig, prepare
from neurosnn.output import one_line_errors, write_json
from neurosnn.snn import PERCENTILE_OF


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("python -m experiments.cost_noise", __doc__)
    add_checkpoint_arg(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--preset",
        default="fashion-mnist",
        choices=sorted(PRESETS),
        help="search configuration (default: %(default)s)",
    )
    p.add_argument("--images", type=int, default=500, help="E (default: %(default)s)")
    p.add_argument("--timesteps", type=int, default=None, help="T (default: the preset's)")
    p.add_argument(
        "--draws", type=int, default=8, help="random subsets of E images (default: %(default)s)"
    )
    p.add_argument(
        "--candidates",
        type=int,
        default=10,
        help="candidates: the baseline and draws of the initial population (default: %(default)s)",
    )
    p.add_argument(
        "--percentile-of",
        choices=PERCENTILE_OF,
        default="all",
        help="percentiles over all or positive outputs (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the population and subsets")
    add_data_args(p, dataset=False)
    add_device_arg(p)
    return p


def spreads(costs: np.ndarray) -> dict[str, float]:
    """The three spreads of a ``[draws, K]`` cost matrix (standard deviations, ddof 1)."""
    pairs = list(combinations(range(costs.shape[1]), 2))
    paired = [np.std(costs[:, i] - costs[:, j], ddof=1) for i, j in pairs]
    return {
        "per_candidate_std": float(np.mean(np.std(costs, axis=0, ddof=1))),
        "paired_difference_std": float(np.mean(paired)),
        "unpaired_difference_std": float(np.sqrt(2) * np.mean(np.std(costs, axis=0, ddof=1))),
        "signal_std": float(np.std(costs.mean(axis=0), ddof=1)),
        "best_on_one_draw_is_best_on_average": float(
            np.mean(np.argmin(costs, axis=1) == np.argmin(costs.mean(axis=0)))
        ),
    }


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    claim_output(args.out)
    if args.draws < 2 or args.candidates < 2:
        raise SystemExit("error: --draws and --candidates must be >= 2")
    try:
        scfg = dataclasses.replace(
            PRESETS[args.preset],
            images=args.images,
            percentile_of=args.percentile_of,
            seed=args.seed,
            population=max(5, args.candidates),
            **({"timesteps": args.timesteps} if args.timesteps else {}),
        )
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    ecfg = EvalConfig(checkpoint=args.checkpoint, data_root=args.data_root, device=args.device)
    start = time.perf_counter()
    prepared = prepare(scfg, ecfg, *load_checkpoint_and_data(ecfg.checkpoint, ecfg.data_root))
    evaluator = Evaluator(prepared.snn, prepared.data.train, scfg)
    n = len(prepared.snn.if_names)
    candidates = [np.full(n, scfg.initial_percentile)]
    candidates += list(initial_population(scfg, n)[: args.candidates - 1])
    costs = cost_noise(evaluator, candidates, args.draws)
    result = {
        "command": "python -m experiments.cost_noise " + " ".join(argv or sys.argv[1:]),
        "search": dataclasses.asdict(scfg),
        "candidates": [c.tolist() for c in candidates],
        "costs": costs.tolist(),
        **spreads(costs),
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(Path(args.out) / "noise.json", result)
    print(
        f"E = {scfg.images}, T = {scfg.timesteps}, {args.draws} subsets × {len(candidates)} "
        f"candidates: one candidate's cost varies by ±{result['per_candidate_std']:.2f} across "
        f"subsets; two candidates' difference by ±{result['unpaired_difference_std']:.2f} on "
        f"different images and ±{result['paired_difference_std']:.2f} on the same; the "
        f"candidates' mean costs spread by ±{result['signal_std']:.2f}; the best on one subset "
        f"is the best on average in {100 * result['best_on_one_draw_is_best_on_average']:.0f}% "
        f"of subsets; {args.out}/noise.json ({result['wall_seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
