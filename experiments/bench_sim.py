"""Benchmark SNN simulation engines: img·steps/s, peak memory and agreement with bindsnet.

    python -m experiments.bench_sim --net vgg9 --option width=0.25 --input 1,28,28 \
        --timesteps 100 --batch 64

Engines: ``reference`` (bindsnet ``Network.run`` with monitors), ``fast`` (neurosnn's loop),
``fast+record`` (the same, streaming every layer's spikes of every image to HDF5) and
``ceiling`` (the converted ANN's forward pass × T, BatchNorm folded: the dense per-step
bound). Weights are the network's random initialisation, calibrated on random inputs: dense
timing does not depend on them. Peak memory is each run's own increase (CPU: resident set;
memory freed by an earlier engine stays resident, so measure one engine per process).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from experiments.common import add_device_arg, parse_options
from networks import create_network, list_networks


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak(device: torch.device) -> int:
    """Reset the peak-memory counter; returns the baseline (bytes) the peak is measured from."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return int(torch.cuda.memory_allocated(device))
    try:  # Linux: writing 5 resets the process's peak resident set size (VmHWM)
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS") * 1024
    except OSError:
        return 0


def _peak_memory(device: torch.device, baseline: int) -> int:
    """Peak memory above ``baseline`` since the last reset (CPU: resident set size)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)) - baseline
    try:
        return _status_kib("VmHWM") * 1024 - baseline
    except OSError:  # no /proc: the whole process's peak
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.bench_sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--net", default="vgg9", choices=list_networks(), help="default: %(default)s")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="network option, repeatable (e.g. width=0.25)",
    )
    p.add_argument("--input", default="1,28,28", help="C,H,W of one image (default: %(default)s)")
    p.add_argument("--classes", type=int, default=10, help="default: %(default)s")
    p.add_argument("--timesteps", type=int, default=100, help="default: %(default)s")
    p.add_argument("--batch", default="64", help="comma-separated batch sizes (default: 64)")
    p.add_argument(
        "--engines",
        default="reference,fast,fast+record,ceiling",
        help="comma-separated subset of reference,fast,fast+record,ceiling",
    )
    p.add_argument("--delay", choices=("layer", "none"), default="layer")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per engine (best kept)")
    add_device_arg(p)
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    from neurosnn.convert import convert
    from neurosnn.record import RunWriter
    from neurosnn.simulate import simulate

    device = torch.device(args.device)
    shape = tuple(int(v) for v in args.input.split(","))
    if len(shape) != 3:
        raise SystemExit(f"error: --input must be C,H,W, got {args.input!r}")
    engines = args.engines.split(",")
    unknown = set(engines) - {"reference", "fast", "fast+record", "ceiling"}
    if unknown:
        raise SystemExit(f"error: unknown engines {sorted(unknown)}")
    torch.manual_seed(0)
    model = create_network(
        args.net, args.classes, shape[0], shape[1], **parse_options(args.option)
    ).eval()
    calib = [torch.randn(64, *shape) for _ in range(2)]
    snn = convert(model, calib, shape, 99.7, device=device)
    # the ceiling is the ANN the SNN runs: BatchNorm folded, T forward passes
    stages = [snn.connection(n).ops for n in snn.layer_names]
    records, reference_pred = [], {}
    print(
        f"{args.net} {args.option} input {shape}, T={args.timesteps}, device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    for batch in [int(b) for b in args.batch.split(",")]:
        x = torch.randn(batch, *shape)
        y = torch.zeros(batch, dtype=torch.long)
        for engine in engines:
            best, peak = float("inf"), 0
            for _ in range(args.repeats):
                baseline = _reset_peak(device)
                _sync(device)
                t0 = time.perf_counter()
                if engine == "ceiling":
                    with torch.no_grad():
                        xd = x.to(device)
                        for _ in range(args.timesteps):
                            h = xd
                            for stage in stages[:-1]:
                                h = torch.relu(stage(h))
                            stages[-1](h)
                    pred = None
                elif engine == "fast+record":
                    with (
                        tempfile.TemporaryDirectory() as tmp,
                        RunWriter(Path(tmp) / "bench.h5", {}) as writer,
                    ):
                        res = simulate(
                            snn,
                            [(x, y)],
                            args.timesteps,
                            delay=args.delay,
                            record_spikes=batch,
                            spike_sink=writer.write_spikes,
                        )
                        writer.write_result(res)
                    pred = res.predictions
                else:
                    res = simulate(snn, [(x, y)], args.timesteps, engine=engine, delay=args.delay)
                    pred = res.predictions
                _sync(device)
                best = min(best, time.perf_counter() - t0)
                peak = max(peak, _peak_memory(device, baseline))
            if engine == "reference":
                reference_pred[batch] = pred
            agreement = None
            if pred is not None and batch in reference_pred:
                agreement = float((pred == reference_pred[batch]).double().mean())
            records.append(
                {
                    "engine": engine,
                    "device": str(device),
                    "batch": batch,
                    "timesteps": args.timesteps,
                    "img_steps_per_s": batch * args.timesteps / best,
                    "peak_memory_bytes": peak,
                    "agreement": agreement,
                }
            )
    ref = {r["batch"]: r["img_steps_per_s"] for r in records if r["engine"] == "reference"}
    ceil = {r["batch"]: r["img_steps_per_s"] for r in records if r["engine"] == "ceiling"}
    print(
        f"{'engine':<13}{'batch':>6}{'img·steps/s':>13}{'vs bindsnet':>13}{'vs ceiling':>12}"
        f"{'peak MiB':>10}{'agreement':>11}"
    )
    for r in records:
        b = r["batch"]
        vs_ref = f"{r['img_steps_per_s'] / ref[b]:.2f}x" if b in ref else "-"
        vs_ceil = f"{r['img_steps_per_s'] / ceil[b]:.2f}" if b in ceil else "-"
        agree = "-" if r["agreement"] is None else f"{r['agreement']:.3f}"
        print(
            f"{r['engine']:<13}{b:>6}{r['img_steps_per_s']:>13.0f}{vs_ref:>13}{vs_ceil:>12}"
            f"{r['peak_memory_bytes'] / 2**20:>10.0f}{agree:>11}"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
