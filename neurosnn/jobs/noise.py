"""How noisy is the threshold search's cost? As a job: the same candidates (the uniform
baseline and draws of the initial population) scored on several random training subsets of E
images, and three spreads compared: one candidate's cost across subsets, the difference of two
candidates on shared images, and the spread of the candidates' mean costs (the signal). The
command is ``experiments.cost_noise``.

    ckpt = load_checkpoint("runs/fmnist_vgg9")
    data = with_normalisation(load_dataset(ckpt.dataset), ckpt.mean, ckpt.std)
    scfg, ecfg = PRESETS["fashion-mnist"], EvalConfig(checkpoint="runs/fmnist_vgg9")
    result = run_cost_noise(scfg, ecfg, NoiseConfig(), ckpt, data, Path("runs/noise"))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from neurosnn.config.noise import NoiseConfig
from neurosnn.config.search import SearchConfig
from neurosnn.io.checkpoint import Checkpoint
from neurosnn.io.data import Dataset
from neurosnn.io.output import write_json
from neurosnn.jobs.search import EvalConfig, prepare

log = logging.getLogger("neurosnn.noise")


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


def run_cost_noise(
    scfg: SearchConfig,
    ecfg: EvalConfig,
    ncfg: NoiseConfig,
    ckpt: Checkpoint,
    data: Dataset,
    out: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``ncfg.candidates`` candidates of ``scfg``'s search on ``ncfg.draws`` subsets;
    writes out/noise.json (every cost and the spreads), which it returns. ``progress``: a bar
    over each draw's batches (a log line per draw either way)."""
    from neurosnn.search.de import initial_population
    from neurosnn.search.evaluate import Evaluator, cost_noise

    start = time.perf_counter()
    # the initial population must hold the candidates drawn from it
    scfg = dataclasses.replace(scfg, population=max(scfg.population, ncfg.candidates))
    prepared = prepare(scfg, ecfg, ckpt, data)
    evaluator = Evaluator(prepared.snn, prepared.data.train, scfg)
    n = len(prepared.snn.if_names)
    candidates = [np.full(n, scfg.initial_percentile)]
    candidates += list(initial_population(scfg, n)[: ncfg.candidates - 1])
    log.info("%d candidates on %d subsets of %d images", len(candidates), ncfg.draws, scfg.images)
    evaluator.progress = progress

    def draw_line(r: int, costs: np.ndarray) -> None:
        log.info("subset %d/%d: costs %s", r + 1, ncfg.draws, np.round(costs, 2).tolist())

    costs = cost_noise(evaluator, candidates, ncfg.draws, draw_line)
    result = {
        "search": dataclasses.asdict(scfg),
        "draws": ncfg.draws,
        "candidates": [c.tolist() for c in candidates],
        "costs": costs.tolist(),
        **spreads(costs),
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(out / "noise.json", result)
    return result
