"""How noisy is the threshold search's cost? Scores the same candidates (the uniform baseline
and P − 1 draws of the initial population) on several random training subsets of E images and
compares three spreads: one candidate's cost across subsets (what a per-candidate draw adds to
every comparison), the difference between two candidates across subsets when they share the
images (what remains with one fixed S), and the spread of the candidates' mean costs (the
signal the search is after).

    python -m experiments.cost_noise --checkpoint runs/fmnist_vgg9 --out runs/fmnist_vgg9/noise

Writes OUT/noise.json (every cost, the spreads and the command). The job is
``neurosnn.jobs.noise.run_cost_noise``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from neurosnn.experiments.common import (
    add_checkpoint_arg,
    add_data_args,
    add_device_arg,
    add_out_arg,
    claim_output,
    finish,
    load_checkpoint_and_data,
    new_parser,
)
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.noise import NoiseConfig, run_cost_noise
from neurosnn.jobs.search import EvalConfig
from neurosnn.search.config import PRESETS
from neurosnn.snn.options import PERCENTILE_OF


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("python -m experiments.cost_noise", __doc__)
    add_checkpoint_arg(p)
    add_out_arg(p)
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


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = claim_output(args.out)
    ncfg = NoiseConfig(draws=args.draws, candidates=args.candidates)
    scfg = dataclasses.replace(
        PRESETS[args.preset],
        images=args.images,
        percentile_of=args.percentile_of,
        seed=args.seed,
        population=max(5, args.candidates),
        **({"timesteps": args.timesteps} if args.timesteps else {}),
    )
    ecfg = EvalConfig(checkpoint=args.checkpoint, data_root=args.data_root, device=args.device)
    ckpt, data = load_checkpoint_and_data(ecfg.checkpoint, ecfg.data_root)
    r = run_cost_noise(scfg, ecfg, ncfg, ckpt, data, out)
    print(
        f"E = {scfg.images}, T = {scfg.timesteps}, {ncfg.draws} subsets × {len(r['candidates'])} "
        f"candidates: one candidate's cost varies by ±{r['per_candidate_std']:.2f} across "
        f"subsets; two candidates' difference by ±{r['unpaired_difference_std']:.2f} on "
        f"different images and ±{r['paired_difference_std']:.2f} on the same; the "
        f"candidates' mean costs spread by ±{r['signal_std']:.2f}; the best on one subset "
        f"is the best on average in {100 * r['best_on_one_draw_is_best_on_average']:.0f}% "
        f"of subsets ({r['wall_seconds']:.0f} s)"
    )
    r["command"] = "python -m experiments.cost_noise " + " ".join(argv or sys.argv[1:])
    finish(out, r, name="noise.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
