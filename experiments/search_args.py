"""Command-line options of the threshold search, shared by ``experiments.neuroevolve`` and the
commands built on it (``experiments.adversarial``): the parser and the configs it gives."""

from __future__ import annotations

import argparse
import dataclasses

from neurosnn.errors import UserError
from neurosnn.experiments.common import (
    add_data_args,
    add_device_arg,
    add_out_arg,
    add_progress_arg,
    add_source_args,
    new_parser,
)
from neurosnn.jobs.search import EvalConfig
from neurosnn.search.config import OBJECTIVES, PRESETS, SUBSETS, SearchConfig
from neurosnn.simulation.options import BIAS_ONSETS, DELAYS
from neurosnn.snn.options import PERCENTILE_OF


def build_parser(prog: str, description: str | None, preset: str) -> argparse.ArgumentParser:
    """The search's options (neuroevolve's, and those of the commands built on the search)."""
    p = new_parser(prog, description)
    p.add_argument(
        "--preset",
        default=preset,
        choices=sorted(PRESETS),
        help="hyper-parameters (Table I of the paper, or fashion-mnist / quick); "
        "the options below override single values (default: %(default)s)",
    )
    add_source_args(p)
    add_out_arg(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted search from OUT/search_state.json",
    )
    for name, kind, what in (
        ("alpha", float, "weight of J, the step of steepest accuracy rise (Eq. 11)"),
        ("beta", float, "weight of 1 - max accuracy gradient (Eq. 11)"),
        ("gamma", float, "weight of 1 - final accuracy (Eq. 11)"),
        ("initial-percentile", float, "baseline percentile TH"),
        ("std", float, "std of the initial population around TH"),
        ("population", int, "population size P (>= 5)"),
        ("generations", int, "most generations G"),
        ("images", int, "training images per evaluation E"),
        ("timesteps", int, "timesteps T per evaluation"),
        ("lower", float, "lower bound of the search (default TH - 10 std, or 0.5 for scale)"),
        ("upper", float, "upper bound (default 100, or 1.5 for scale)"),
        ("tol", float, "SciPy's relative convergence tolerance"),
        ("seed", int, "seed of the population, DE and the training subsets"),
    ):
        value = getattr(PRESETS[preset], name.replace("-", "_"))
        shown = "the bounds' rule above" if value is None else value
        p.add_argument(
            f"--{name}",
            type=kind,
            default=None,
            help=f"{what} (default: the preset's; {preset}: {shown})",
        )
    p.add_argument(
        "--parameterisation",
        choices=("percentile", "scale"),
        default=None,
        help="search percentiles (paper) or scales of the baseline thresholds",
    )
    p.add_argument(
        "--subset",
        choices=SUBSETS,
        default=None,
        help="score every candidate on one mini-dataset S drawn before the first generation "
        "(fixed, Algorithm 1) or on images drawn for each candidate (default: fixed)",
    )
    p.add_argument(
        "--percentile-of",
        choices=PERCENTILE_OF,
        default=None,
        help="percentiles over all of a layer's ReLU outputs, zeros included (the authors' "
        "code: the paper's 99.7), or over the positive ones (Rueckauer) (default: all)",
    )
    p.add_argument(
        "--channelwise",
        action="store_const",
        const=True,
        default=None,
        help="one threshold per channel of every conv layer (folded into the weights)",
    )
    p.add_argument(
        "--phi",
        type=float,
        default=None,
        help="initial membrane potential phi*theta of every layer, phi in [0, 1) "
        "(0.5: Bu et al.'s half threshold; default 0)",
    )
    p.add_argument(
        "--delay",
        choices=DELAYS,
        default=None,
        help="one step of delay per layer (the paper's count) or none (default: layer)",
    )
    p.add_argument(
        "--bias-onset",
        choices=BIAS_ONSETS,
        default=None,
        help="each layer's bias from step 1 (always, bindsnet's) or withheld until its input "
        "can arrive (input) (default: always)",
    )
    p.add_argument(
        "--search-phi",
        action="store_const",
        const=True,
        default=None,
        help="search each layer's phi beside its threshold",
    )
    p.add_argument("--phi-std", type=float, default=None, help="std of the initial phi (0.15)")
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=None,
        help="Eq. 11 (alpha, beta, gamma), the steps to the ANN's accuracy on the search "
        "images minus --target-drop, or the accuracy deficit below that target summed over "
        "the steps (default: eq11)",
    )
    p.add_argument(
        "--target-drop",
        type=float,
        default=None,
        help="steps-to-target, deficit: how far below the ANN the target lies (default 0.01)",
    )
    p.add_argument(
        "--test-images",
        type=int,
        default=2000,
        help="test images for the baseline/optimised comparison (default: %(default)s; 0 = all)",
    )
    p.add_argument(
        "--eval-timesteps",
        type=int,
        default=None,
        help="T of the test-set comparison (default: the search's T)",
    )
    p.add_argument(
        "--target-accuracy",
        type=float,
        default=None,
        help="also report the latency improvement at this accuracy",
    )
    p.add_argument(
        "--long-horizon",
        type=int,
        default=3,
        help="the baseline also runs to this many times T; its accuracy there is the long "
        "latency target (default: %(default)s)",
    )
    p.add_argument(
        "--iso-time",
        type=int,
        default=None,
        help="timestep of the iso-time accuracy comparison (default: T/2)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that score candidates in parallel (default: %(default)s)",
    )
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="score candidates on a Ray cluster: 'local' or a cluster address "
        "(needs pip install neurosnn[distributed])",
    )
    add_data_args(p, dataset=False)
    add_device_arg(p)
    add_progress_arg(p)
    return p


def configs(args: argparse.Namespace) -> tuple[SearchConfig, EvalConfig]:
    """The search and evaluation configs from parsed arguments (preset, then overrides)."""
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(SearchConfig)
        if getattr(args, f.name, None) is not None
    }
    scfg = dataclasses.replace(PRESETS[args.preset], **overrides)
    try:
        ecfg = EvalConfig(
            checkpoint=args.checkpoint or args.weights or "",
            test_images=None if args.test_images == 0 else args.test_images,
            timesteps=args.eval_timesteps,
            target_accuracy=args.target_accuracy,
            iso_time=args.iso_time,
            long_horizon=args.long_horizon,
            workers=args.workers,
            ray_address=args.ray,
            data_root=args.data_root,
            device=args.device,
        )
    except UserError as err:  # named as the command line names it
        field, _, rest = str(err).partition(" ")
        flag = "eval-timesteps" if field == "timesteps" else field.replace("_", "-")
        raise SystemExit(f"error: --{flag} {rest}") from err
    T = ecfg.timesteps or scfg.timesteps
    if ecfg.iso_time is not None and ecfg.iso_time > T:
        raise SystemExit(
            f"error: --iso-time must be <= T = {T} (the evaluation's), got {ecfg.iso_time}"
        )
    return scfg, ecfg
