"""How noisy is the threshold search's cost? Scores the same candidates (the uniform baseline
and draws of the initial population) on several random training subsets of E images and
compares three spreads: one candidate's cost across subsets (what a per-candidate draw adds to
every comparison), the difference between two candidates across subsets when they share the
images (what remains with one fixed S), and the spread of the candidates' mean costs (the
signal the search is after).

Writes OUT/noise.json (every cost, the spreads and the command), OUT/noise.log and
OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.common import Hardware, Output, Source
from neurosnn.config.noise import NoiseConfig
from neurosnn.config.search import EvalConfig, Preset, SearchConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="cost-noise",
    description=__doc__,
    parts=(
        Part("source", Source),
        Part("preset", Preset),
        Part(
            "search",
            SearchConfig,
            base=lambda built: built["preset"].config(),
            base_text="the preset's",
        ),
        Part("noise", NoiseConfig),
        Part("output", Output),
        Part("hardware", Hardware),
    ),  # fmt: skip
    run="neurosnn.experiments.cost_noise:run",
    examples=(
        "neurosnn cost-noise --checkpoint runs/fmnist_vgg9 --images 500 --draws 6 "
        "--candidates 8 --timesteps 128 --out runs/vgg9_noise",
    ),
    check=lambda parts: parts["source"].require(one=True),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses

    from neurosnn.experiments.common import (
        claim_output,
        finish,
        load_network,
        say,
        setup_logging,
    )
    from neurosnn.jobs.noise import run_cost_noise

    ncfg = job.noise
    scfg = dataclasses.replace(job.search, population=max(5, ncfg.candidates))
    out = claim_output(job.output.out)
    setup_logging(out / "noise.log")
    job.write_config(out)
    ckpt, data, path = load_network(job.source)
    ecfg = EvalConfig(checkpoint=path, data_root=job.source.data_root, device=job.hardware.apply())
    r = run_cost_noise(scfg, ecfg, ncfg, ckpt, data, out, job.output.progress)
    say(
        f"E = {scfg.images}, T = {scfg.timesteps}, {ncfg.draws} subsets × {len(r['candidates'])} "
        f"candidates: one candidate's cost varies by ±{r['per_candidate_std']:.2f} across "
        f"subsets; two candidates' difference by ±{r['unpaired_difference_std']:.2f} on "
        f"different images and ±{r['paired_difference_std']:.2f} on the same; the "
        f"candidates' mean costs spread by ±{r['signal_std']:.2f}; the best on one subset "
        f"is the best on average in {100 * r['best_on_one_draw_is_best_on_average']:.0f}% "
        f"of subsets ({r['wall_seconds']:.0f} s)"
    )
    r["command"] = job.command_line
    finish(out, r, name="noise.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
