"""BPTT fine-tuning against the threshold search from the same converted SNN as a job (Lu &
Sengupta §V-C): accuracy per timestep (Fig. 4) and the time and memory of a batch (Fig. 5,
Eq. 19). The command is ``experiments.bptt_vs_de`` (its docstring lists the files).

    ckpt = load_checkpoint("runs/fmnist_vgg9")
    data = with_normalisation(load_dataset(ckpt.dataset), ckpt.mean, ckpt.std)
    cfg = BPTTConfig(checkpoint="runs/fmnist_vgg9", search="runs/fmnist_vgg9/ne")
    summary = run_bptt_vs_search(cfg, ckpt, data, Path("runs/fmnist_vgg9/bptt"))
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch

from neurosnn.config.bptt import BPTTConfig
from neurosnn.config.search import PRESETS, SearchConfig
from neurosnn.io.checkpoint import Checkpoint
from neurosnn.io.data import Dataset, seeded_subset
from neurosnn.io.output import as_saved, write_json
from neurosnn.io.snnfile import source_of
from neurosnn.jobs.search import EvalConfig, prepare, simulate_to, timing
from neurosnn.measures.resources import mean_seconds, peak_of

log = logging.getLogger("neurosnn.bptt")

BPTT_EPOCHS_FOR_COST = 20  # the paper's BPTT training cost (Rathi et al. 2020)


def _work(kind: str, snn, x, y, T: int, sim: dict | None = None):
    """One batch of SNN inference or one BPTT step (forward + backward), with the timing
    options ``sim`` (delay, bias onset)."""
    from neurosnn.learn.surrogate.finetune import bptt_step
    from neurosnn.learn.surrogate.network import SurrogateSNN
    from neurosnn.simulation.run import simulate

    sim = sim or {}
    if kind == "inference":
        return lambda: simulate(snn, [(x, y)], T, **sim)
    net = SurrogateSNN(snn, **sim).to(x.device)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)  # timing only: the weights stay
    return lambda: bptt_step(net, x, y, T, opt)


def _peak_in_fresh_process(kind: str, snn, x, y, T: int) -> int:
    """Peak memory of one call, measured in a new process: on the CPU, memory an earlier call
    freed is reused without raising the resident set, so only a fresh process shows it."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure_peak, (kind, snn, x, y, T))


def _measure_peak(kind: str, snn, x, y, T: int) -> int:
    return peak_of(_work(kind, snn, x, y, T), x.device)


def cost_table(snn, x, y, timesteps, device, repeats: int, search: dict, n_train: int) -> list:
    """Fig. 5: per T, inference vs BPTT time and memory per batch and Eq. 19's totals."""
    rows = []
    batch = len(y)
    for T in timesteps:
        t_inf = mean_seconds(_work("inference", snn, x, y, T), device, repeats)
        t_bptt = mean_seconds(_work("bptt", snn, x, y, T), device, repeats)
        if device.type == "cuda":  # CUDA's allocator statistics are exact in this process
            m_inf = peak_of(_work("inference", snn, x, y, T), device)
            m_bptt = peak_of(_work("bptt", snn, x, y, T), device)
        else:
            m_inf = _peak_in_fresh_process("inference", snn, x, y, T)
            m_bptt = _peak_in_fresh_process("bptt", snn, x, y, T)
        de_batches = search["images"] * search["generations"] * search["population"] / batch
        bptt_batches = BPTT_EPOCHS_FOR_COST * n_train / batch
        rows.append(
            {
                "timesteps": T,
                "batch": batch,
                "inference_seconds_per_batch": t_inf,
                "bptt_seconds_per_batch": t_bptt,
                "inference_peak_bytes": m_inf,
                "bptt_peak_bytes": m_bptt,
                "time_ratio": t_bptt / t_inf,
                "memory_ratio": m_bptt / max(m_inf, 1),
                "search_total_seconds": t_inf * de_batches,  # Eq. 19
                "bptt_total_seconds": t_bptt * bptt_batches,
            }
        )
    return rows


def searched(folder: str | Path) -> tuple[SearchConfig, tuple[list[float], list[float]]]:
    """The search config of an ``experiments.neuroevolve`` folder and its best thresholds
    and φ."""
    from neurosnn.io.record import read_search

    found = read_search(Path(folder) / "search.h5")
    saved = found["config"]["search"]
    scfg = SearchConfig(**{**saved, "mutation": tuple(saved["mutation"])})
    best = found["best"]
    phi = best.get("phi", [scfg.phi] * len(found["layers"]))
    return scfg, ([float(v) for v in best["thresholds"]], [float(v) for v in phi])


def run_bptt_vs_search(
    cfg: BPTTConfig, ckpt: Checkpoint, data: Dataset, out: Path, progress: bool = True
) -> dict[str, Any]:
    """Fig. 4 (conversion, the search's thresholds when ``cfg.search`` is given, BPTT) and
    Fig. 5 into ``out``; ``data`` is normalised as the checkpoint was trained. Writes
    out/conversion.h5, optimized.h5, bptt.h5, bptt.snn.h5 and summary.json; returns the
    summary."""
    from neurosnn.io.snnfile import save_snn
    from neurosnn.learn.surrogate.finetune import finetune
    from neurosnn.learn.surrogate.network import SurrogateSNN

    out.mkdir(parents=True, exist_ok=True)
    scfg, optimized = PRESETS[cfg.preset], None
    if cfg.search is not None:  # the SNN the search tuned: its conversion, φ and timing
        scfg, optimized = searched(cfg.search)
    ecfg = EvalConfig(
        checkpoint=cfg.checkpoint,
        data_root=cfg.data_root,
        device=cfg.device,
        test_images=cfg.test_images,
    )
    start = time.perf_counter()
    prepared = prepare(scfg, ecfg, ckpt, data)
    snn, data = prepared.snn, prepared.data
    test, _ = seeded_subset(data.test, cfg.test_images, 0)
    T, config = cfg.timesteps, {"bptt_vs_search": dataclasses.asdict(cfg)}

    def record(name: str, net):
        return simulate_to(out / name, net, test, T, config, ecfg, {}, scfg)

    runs = {"conversion": record("conversion.h5", snn)}
    if optimized is not None:
        tuned = copy.deepcopy(snn)
        tuned.set_thresholds(optimized[0])
        tuned.set_phi(optimized[1])
        runs["threshold search"] = record("optimized.h5", tuned)
    log.info("BPTT fine-tuning: %s", cfg.finetune)
    net = SurrogateSNN(snn, **timing(scfg))
    history = finetune(net, data.train, cfg.finetune, cfg.device, progress)
    fine = copy.deepcopy(snn)
    net.export_to(fine)
    runs["BPTT"] = record("bptt.h5", fine)
    source = source_of(
        cfg.checkpoint,
        prepared.ckpt,
        __name__,
        bptt=dataclasses.asdict(cfg.finetune),
        simulation=timing(scfg),
    )
    save_snn(out / "bptt.snn.h5", fine, source)

    log.info("the cost table (Fig. 5) for T = %s", list(cfg.cost_timesteps))
    x, y = next(data.train.batches(cfg.cost_batch))
    device = torch.device(cfg.device)
    search_cfg = dataclasses.asdict(scfg)
    cost = cost_table(
        snn,
        x.to(device),
        y.to(device),
        cfg.cost_timesteps,
        device,
        cfg.repeats,
        search_cfg,
        len(data.train),
    )
    summary = {
        "final_accuracy": {k: float(r.accuracy[-1]) for k, r in runs.items()},
        "accuracy": {k: r.accuracy.tolist() for k, r in runs.items()},
        "bptt": {"config": dataclasses.asdict(cfg.finetune), "history": history},
        "cost": cost,
        "search_config": search_cfg,
        "timesteps": T,
        "test_images": len(test),
        "device": cfg.device,
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(out / "summary.json", summary)
    return as_saved(summary)
