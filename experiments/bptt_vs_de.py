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

Writes OUT/summary.json and OUT/plots/*.png.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from neurosnn.evolve import PRESETS, SearchConfig
from neurosnn.experiments.common import (
    add_checkpoint_arg,
    add_data_args,
    add_device_arg,
    add_progress_arg,
    claim_output,
    load_checkpoint_and_data,
    new_parser,
    peak_memory,
    reset_peak_memory,
    sync,
)
from neurosnn.jobs.search import EvalConfig, prepare, simulate_to, timing
from neurosnn.output import one_line_errors, write_json
from neurosnn.snnfile import source_of

BPTT_EPOCHS_FOR_COST = 20  # the paper's BPTT training cost (Rathi et al. 2020)


def _work(kind: str, snn, x, y, T: int, sim: dict | None = None):
    """One batch of SNN inference or one BPTT step (forward + backward), with the timing
    options ``sim`` (delay, bias onset)."""
    from neurosnn.simulate import simulate
    from neurosnn.surrogate.finetune import bptt_step
    from neurosnn.surrogate.network import SurrogateSNN

    sim = sim or {}
    if kind == "inference":
        return lambda: simulate(snn, [(x, y)], T, **sim)
    net = SurrogateSNN(snn, **sim).to(x.device)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)  # timing only: the weights stay
    return lambda: bptt_step(net, x, y, T, opt)


def _seconds(fn, device, repeats: int) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after one warm-up."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def _peak_in_fresh_process(kind: str, snn, x, y, T: int) -> int:
    """Peak memory of one call, measured in a new process: on the CPU, memory an earlier call
    freed is reused without raising the resident set, so only a fresh process shows it."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure_peak, (kind, snn, x, y, T))


def _measure_peak(kind: str, snn, x, y, T: int) -> int:
    return _peak_here(_work(kind, snn, x, y, T), x.device)


def cost_table(snn, x, y, timesteps: list[int], device, repeats: int, search: dict, n_train: int):
    """Fig. 5: per T, inference vs BPTT time and memory per batch and Eq. 19's totals."""
    rows = []
    batch = len(y)
    for T in timesteps:
        t_inf = _seconds(_work("inference", snn, x, y, T), device, repeats)
        t_bptt = _seconds(_work("bptt", snn, x, y, T), device, repeats)
        if device.type == "cuda":  # CUDA's allocator statistics are exact in this process
            m_inf = _peak_here(_work("inference", snn, x, y, T), device)
            m_bptt = _peak_here(_work("bptt", snn, x, y, T), device)
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


def _peak_here(fn, device) -> int:
    baseline = reset_peak_memory(device)
    fn()
    sync(device)
    return peak_memory(device, baseline)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = new_parser("python -m experiments.bptt_vs_de", __doc__)
    add_checkpoint_arg(p)
    p.add_argument("--out", required=True, help="output folder")
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
    args = p.parse_args(argv)
    claim_output(args.out)
    try:
        cost_steps = [int(t) for t in args.cost_timesteps.split(",") if t.strip()]
    except ValueError as err:
        raise SystemExit(f"error: --cost-timesteps: {err}") from err
    summary = run(args, cost_steps)
    print(
        f"final accuracy at T={args.timesteps}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in summary["final_accuracy"].items())
    )
    for r in summary["cost"]:
        inf_mib, bptt_mib = r["inference_peak_bytes"] / 2**20, r["bptt_peak_bytes"] / 2**20
        print(
            f"T={r['timesteps']:>3} batch {r['batch']}: inference "
            f"{r['inference_seconds_per_batch']:.3f} s {inf_mib:.0f} MiB, BPTT "
            f"{r['bptt_seconds_per_batch']:.3f} s {bptt_mib:.0f} MiB → time "
            f"×{r['time_ratio']:.1f}, memory ×{r['memory_ratio']:.1f}; Eq. 19 totals: search "
            f"{r['search_total_seconds'] / 3600:.2f} h, BPTT {r['bptt_total_seconds'] / 3600:.2f} h"
        )
    print(f"summary in {args.out}/summary.json")
    return 0


def run(args: argparse.Namespace, cost_steps: list[int]) -> dict[str, Any]:
    from neurosnn.analysis.bptt import plot_bptt
    from neurosnn.record import read_search
    from neurosnn.snnfile import save_snn
    from neurosnn.surrogate.finetune import FinetuneConfig, finetune
    from neurosnn.surrogate.network import SurrogateSNN

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scfg = PRESETS[args.preset]
    optimized = None
    if args.search is not None:  # the SNN the search tuned: its conversion, φ and timing
        found = read_search(Path(args.search) / "search.h5")
        saved = found["config"]["search"]
        scfg = SearchConfig(**{**saved, "mutation": tuple(saved["mutation"])})
        optimized = (
            [float(v) for v in found["best"]["thresholds"]],
            [float(v) for v in found["best"].get("phi", [scfg.phi] * len(found["layers"]))],
        )
    search_cfg = dataclasses.asdict(scfg)
    ecfg = EvalConfig(
        checkpoint=args.checkpoint,
        data_root=args.data_root,
        device=args.device,
        test_images=args.test_images or None,
    )
    start = time.perf_counter()
    prepared = prepare(scfg, ecfg, *load_checkpoint_and_data(ecfg.checkpoint, ecfg.data_root))
    snn, data = prepared.snn, prepared.data
    test = data.test
    if ecfg.test_images is not None and ecfg.test_images < len(test):
        test = test.random_subset(ecfg.test_images, 0)
    T, config = args.timesteps, {"args": vars(args)}
    runs = {"conversion": simulate_to(out / "conversion.h5", snn, test, T, config, ecfg, {}, scfg)}
    if optimized is not None:
        tuned = copy.deepcopy(snn)
        tuned.set_thresholds(optimized[0])
        tuned.set_phi(optimized[1])
        runs["threshold search"] = simulate_to(
            out / "optimized.h5", tuned, test, T, config, ecfg, {}, scfg
        )

    fcfg = FinetuneConfig(
        epochs=args.bptt_epochs,
        batch_size=args.bptt_batch_size,
        lr=args.bptt_lr,
        timesteps=args.bptt_timesteps,
        max_batches=args.bptt_batches,
    )
    net = SurrogateSNN(snn, **timing(scfg))
    history = finetune(net, data.train, fcfg, args.device, not args.no_progress)
    fine = copy.deepcopy(snn)
    net.export_to(fine)
    runs["BPTT"] = simulate_to(out / "bptt.h5", fine, test, T, config, ecfg, {}, scfg)
    source = source_of(
        args.checkpoint,
        prepared.ckpt,
        "experiments.bptt_vs_de",
        bptt=dataclasses.asdict(fcfg),
        simulation=timing(scfg),
    )
    save_snn(out / "bptt.snn.h5", fine, prepared.model, source)

    x, y = next(data.train.batches(args.cost_batch))
    cost = cost_table(
        snn,
        x.to(args.device),
        y.to(args.device),
        cost_steps,
        torch.device(args.device),
        args.repeats,
        search_cfg,
        len(data.train),
    )
    summary = {
        "final_accuracy": {k: float(r.accuracy[-1]) for k, r in runs.items()},
        "accuracy": {k: r.accuracy.tolist() for k, r in runs.items()},
        "bptt": {"config": dataclasses.asdict(fcfg), "history": history},
        "cost": cost,
        "search_config": search_cfg,
        "timesteps": T,
        "test_images": len(test),
        "device": args.device,
        "wall_seconds": time.perf_counter() - start,
    }
    write_json(out / "summary.json", summary)
    summary["plots"] = [str(p) for p in plot_bptt(out)]
    write_json(out / "summary.json", summary)
    return json.loads(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
