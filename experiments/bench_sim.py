"""Benchmark the SNN simulation engines on one network: img·steps/s, peak memory and agreement
with bindsnet.

Engines: reference (bindsnet's Network.run with monitors), fast (neurosnn's layer-major
engine, automatic τ), fast-bf16 (the same with bf16 connections and float32 membranes: not
spike-identical, its agreement says how close), step (the same with τ = 1: a step loop), groups
(the fast engine with per-sample thresholds, 8 threshold candidates sharing each batch: the
threshold search's vectorised evaluation), fast+record (fast, streaming every layer's spikes of
every image to HDF5), generation (one whole threshold-search generation as the search scores
it: --population P candidates, each on the batch's E images; its rate counts P·E·T img·steps
and its time is the seconds per generation), ceiling (the converted ANN's forward pass × T,
BatchNorm folded: the dense per-step bound, plain PyTorch) and spikingjelly (SpikingJelly's
multi-step IF neurons on the same layers, when it is installed; it has no per-layer delay, so
its agreement is measured against the fast engine with --delay none) and compiled
(torch.compile of SNNModule stepped T times; the first repeat compiles, the best repeat
is kept). Weights are the network's
random initialisation, calibrated on random inputs: dense timing does not depend on them. Peak
memory is each run's own increase (on a CPU, memory freed by an earlier engine stays resident:
measure one engine per process for memory).

Prints the table; with --out DIR also writes DIR/bench.json, DIR/bench.log and DIR/config.yaml.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

from neurosnn.config.bench import BenchConfig
from neurosnn.config.common import Hardware, Output
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="bench",
    description=__doc__,
    parts=(
        Part("bench", BenchConfig),
        Part("output", Output, defaults={"out": ""}),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.bench_sim:run",
    examples=(
        "neurosnn bench --net vgg9 --option width=0.25 --option batch_norm=true "
        "--input-shape 1,28,28 --timesteps 100 --batch-size 64",
        "neurosnn bench --net vgg15 --input-shape 3,32,32 --batch-size 32,256 --engines "
        "reference,fast,step,ceiling --device cuda --out runs/bench_vgg15",
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import torch

    from neurosnn.config.common import output_key
    from neurosnn.conversion.pipeline import convert
    from neurosnn.errors import UserError
    from neurosnn.experiments.common import claim_output, say, setup_logging
    from neurosnn.io.checkpoint import FactorySpec
    from neurosnn.io.output import atomic
    from neurosnn.measures.resources import peak_memory, reset_peak_memory, sync
    from neurosnn.networks import create_network, list_networks

    args = job.bench
    if args.model is None and args.net not in list_networks():
        raise UserError(f"net: unknown network {args.net!r}; known: {', '.join(list_networks())}")
    if args.json:
        say("note: --json FILE is 0.2's form; from 0.3 on --out DIR writes DIR/bench.json")
    out = claim_output(job.output.out) if job.output.out else None
    if out is not None:
        setup_logging(out / "bench.log")
        job.write_config(out)
    device = torch.device(job.hardware.apply())
    shape = tuple(args.input_shape)
    engines = list(args.engines)
    if "spikingjelly" in engines and importlib.util.find_spec("spikingjelly") is None:
        say("note: spikingjelly is not installed (pip install -e '.[bench]'); skipping it")
        engines.remove("spikingjelly")

    torch.manual_seed(0)
    options = dict(args.options)
    if args.model is None:
        model = create_network(args.net, args.classes, shape[0], shape[1], **options).eval()
    else:
        spec = FactorySpec(args.model, shape[0], shape[-1], output_key(args.model_output))
        model = spec.build().eval()
    calib = [torch.randn(64, *shape) for _ in range(2)]
    snn = convert(model, calib, shape, 99.7, device=device, output=output_key(args.model_output))
    records = []
    say(
        f"{args.model or args.net} {options} input {shape}, T={args.timesteps}, "
        f"delay {args.delay}, device {device}, torch threads {torch.get_num_threads()}"
    )
    for batch in args.batch_size:
        x = torch.randn(batch, *shape, device=device)
        y = torch.zeros(batch, dtype=torch.long, device=device)
        predictions = {}
        runs = {engine: _runner(engine, snn, args) for engine in engines}
        best = dict.fromkeys(engines, float("inf"))
        peak = dict.fromkeys(engines, 0)
        # round robin (each repeat times every engine once), every other repeat in reverse
        # order, so that neither a drift of the machine's speed nor the engine run just
        # before (bindsnet leaves gigabytes to free) favours or hurts one engine
        for r in range(args.repeats):
            for engine in engines if r % 2 == 0 else engines[::-1]:
                baseline = reset_peak_memory(device)
                sync(device)
                t0 = time.perf_counter()
                predictions[engine] = runs[engine](x, y)
                sync(device)
                seconds = time.perf_counter() - t0
                best[engine] = min(best[engine], seconds)
                if job.output.progress:
                    say(f"  batch {batch}, run {r + 1}/{args.repeats}: {engine} {seconds:.2f} s")
                peak[engine] = max(peak[engine], peak_memory(device, baseline))
        for engine in engines:
            pred = predictions[engine]
            images = batch * (args.population if engine == "generation" else 1)
            records.append(
                {
                    "engine": engine,
                    "device": str(device),
                    "batch": batch,
                    "timesteps": args.timesteps,
                    "seconds": best[engine],
                    "img_steps_per_s": images * args.timesteps / best[engine],
                    "peak_memory_bytes": peak[engine],
                    "agreement": _agreement(engine, pred, predictions, snn, x, y, args),
                    "tf32": job.hardware.allow_tf32,
                }
            )
    _print_table(records)
    for r in records:
        if r["engine"] == "generation":
            say(
                f"generation: {args.population} candidates × {r['batch']} images × "
                f"T = {args.timesteps}: {r['seconds']:.2f} s a generation on {r['device']}"
            )
    for path in (out / "bench.json" if out else None, args.json and Path(args.json)):
        if path:
            with atomic(path) as tmp:  # replaces only a file neurosnn wrote
                tmp.write_text(json.dumps(records, indent=2) + "\n")
    return 0


def _spikingjelly_net(snn, timesteps: int):
    """The converted SNN as SpikingJelly multi-step IF layers (soft reset, v >= θ fires), layer
    by layer in topological order, each summing its connections; its spikes are 0/1, so each
    connection's first weights are scaled by the source threshold (a connection without
    weights, an identity shortcut, scales the spikes). Max pooling is SpikingJelly's usual one
    on the spikes themselves, not neurosnn's count-gated pool, so on max-pool networks its
    predictions may differ from the other engines'."""
    import copy

    import torch
    from spikingjelly.activation_based import functional, neuron

    thresholds = dict(zip(snn.if_names, snn.thresholds, strict=True))
    graph = snn.to_graph()
    nodes = {
        n: neuron.IFNode(v_threshold=thresholds[n], v_reset=None, step_mode="m")
        for n in snn.if_names
    }
    edges = []
    for e in graph.edges:
        ops, scale = copy.deepcopy(e.ops), thresholds.get(e.source)
        k = 0
        while k < len(ops) and isinstance(
            ops[k], torch.nn.MaxPool2d | torch.nn.AvgPool2d | torch.nn.Flatten
        ):
            k += 1
        if scale is not None and k < len(ops) and hasattr(ops[k], "weight"):
            ops[k].weight.data = ops[k].weight.data * scale
            scale = None
        edges.append((e.source, e.target, ops, scale))

    def run(x: torch.Tensor) -> torch.Tensor:
        h = {"input": x.unsqueeze(0).expand(timesteps, *x.shape).flatten(0, 1)}
        for name in snn.layer_names:
            cur = None
            for source, target, ops, scale in edges:
                if target == name:
                    c = ops(h[source] if scale is None else h[source] * scale)
                    cur = c if cur is None else cur + c
            if name in nodes:
                h[name] = nodes[name](cur.view(timesteps, len(x), *cur.shape[1:])).flatten(0, 1)
        for node in nodes.values():
            functional.reset_net(node)
        return cur.view(timesteps, len(x), -1).sum(0).argmax(1)

    return run


def _runner(engine: str, snn, args):
    """A callable ``(x, y) -> predictions [B]`` (None for the ceiling) timing one engine."""
    import torch

    from neurosnn.io.record import RunWriter
    from neurosnn.simulation.run import simulate, simulate_groups

    T, delay, tb = args.timesteps, args.delay, args.time_block
    if engine == "ceiling":  # the ANN the SNN runs: BatchNorm folded, T forward passes
        graph = snn.to_graph()

        @torch.no_grad()
        def ceiling(x, y):
            for _ in range(T):
                for _ in graph.ann_forward(x):
                    pass

        return ceiling
    if engine == "spikingjelly":
        net = _spikingjelly_net(snn, T)
        return torch.no_grad()(lambda x, y: net(x))
    if engine == "compiled":
        from neurosnn.simulation.module import SNNModule

        module = SNNModule(snn, delay)
        compiled = torch.compile(module)

        def stepped(x, y):
            module.reset()
            for _ in range(T):
                out = compiled(x)
            return out.argmax(1)

        return stepped
    if engine == "groups":
        candidates = torch.tensor(snn.thresholds).expand(8, -1)

        def groups(x, y):
            g = torch.arange(len(y), device=x.device) % 8
            simulate_groups(snn, [(x, y, g)], candidates, T, delay=delay, time_block=tb)

        return groups
    if engine == "generation":
        return _generation(snn, args)
    if engine == "fast+record":

        def record(x, y):
            with tempfile.TemporaryDirectory() as tmp:
                with RunWriter(Path(tmp) / "bench.h5", {}) as writer:
                    res = simulate(
                        snn,
                        [(x, y)],
                        T,
                        delay=delay,
                        time_block=tb,
                        record_spikes=len(y),
                        spike_sink=writer.write_spikes,
                    )
                    writer.write_result(res)
            return res.predictions

        return record
    kind, block = ("reference", None) if engine == "reference" else ("fast", tb)
    if engine == "step":
        block = 1
    precision = "bf16" if engine == "fast-bf16" else "fp32"
    return lambda x, y: (
        simulate(
            snn, [(x, y)], T, engine=kind, delay=delay, time_block=block, precision=precision
        ).predictions
    )


def _generation(snn, args):
    """One threshold-search generation: P random candidates (threshold scales in the search's
    bounds), each scored on the batch's images, as the search's vectorised map does it."""
    import numpy as np

    from neurosnn.config.search import SearchConfig
    from neurosnn.io.data import TensorSplit
    from neurosnn.search.evaluate import Evaluator

    def generation(x, y):
        cfg = SearchConfig(
            population=args.population,
            images=len(y),
            timesteps=args.timesteps,
            parameterisation="scale",
            delay=args.delay,
        )
        channels = x.shape[1]
        # x is already normalised: the identity normalisation hands it over unchanged
        split = TensorSplit(x.cpu(), y.cpu(), (0.0,) * channels, (1.0,) * channels)
        rng = np.random.default_rng(0)
        candidates = list(rng.uniform(*cfg.bounds, (args.population, len(snn.if_names))))
        Evaluator(snn, split, cfg).score(candidates)

    return generation


def _agreement(engine, pred, predictions, snn, x, y, args) -> float | None:
    """Share of predictions equal to bindsnet's (SpikingJelly: to the fast engine without
    delay, SpikingJelly's timing)."""
    from neurosnn.simulation.run import simulate

    if pred is None:
        return None
    if engine == "spikingjelly":
        ref = simulate(snn, [(x, y)], args.timesteps, delay="none").predictions
    elif "reference" in predictions:
        ref = predictions["reference"]
    else:
        return None
    return float((pred.cpu() == ref.cpu()).double().mean())


def _print_table(records: list[dict]) -> None:
    from neurosnn.experiments.common import say

    def rate(engine, batch):
        return next(
            (r["img_steps_per_s"] for r in records if (r["engine"], r["batch"]) == (engine, batch)),
            None,
        )

    say(
        f"{'engine':<13}{'batch':>6}{'img·steps/s':>13}{'vs bindsnet':>13}{'vs ceiling':>12}"
        f"{'vs SJ':>8}{'peak MiB':>10}{'agreement':>11}"
    )
    for r in records:
        b, speed = r["batch"], r["img_steps_per_s"]
        ratios = []
        for other, fmt in (
            ("reference", "{:.2f}x"),
            ("ceiling", "{:.2f}"),
            ("spikingjelly", "{:.2f}x"),
        ):
            base = rate(other, b)
            ratios.append("-" if base is None else fmt.format(speed / base))
        agree = "-" if r["agreement"] is None else f"{r['agreement']:.3f}"
        say(
            f"{r['engine']:<13}{b:>6}{speed:>13.0f}{ratios[0]:>13}{ratios[1]:>12}{ratios[2]:>8}"
            f"{r['peak_memory_bytes'] / 2**20:>10.0f}{agree:>11}"
        )


if __name__ == "__main__":
    sys.exit(main())
