"""How many timesteps does each recipe need? Converts each checkpoint under every recipe asked
for (any recipe of the grammar: neurosnn latency --list-recipes), simulates the same test images
and reports the steps to ANN − 1% and − 2% (with and without the layer delay), to the
baseline's accuracy at a long horizon, the accuracy at t = 16, 32, 64 and T, and the spikes per
image; with several checkpoints (seeds) also their mean and range.

Writes OUT/<checkpoint folder>/<recipe>.h5 (run records), <recipe>.snn.h5 (each recipe's SNN),
<recipe>_search/ (its search), plots/, OUT/latency.json (every figure, the aggregate over
checkpoints and the command), OUT/latency.log and OUT/config.yaml. A rerun into OUT keeps the
finished records and resumes interrupted searches.
"""

from __future__ import annotations

import sys

from neurosnn.config.cluster import Cluster
from neurosnn.config.common import Hardware, Output, Source
from neurosnn.config.latency import LatencyConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

LIST_RECIPES = (
    "print every token of a recipe with its paper, and the named recipes, and stop",
    "neurosnn.config.recipe:explain",
)
COMMAND = Command(
    name="latency",
    description=__doc__,
    parts=(
        Part("source", Source),
        Part("latency", LatencyConfig),
        Part("output", Output),
        Part("hardware", Hardware),
        Part("cluster", Cluster),
    ),
    run="neurosnn.experiments.latency:run",
    examples=(
        "neurosnn latency --checkpoint runs/fmnist_vgg9 --recipes all,phi+onset --out runs/lat",
        "neurosnn latency --checkpoint runs/s0 --checkpoint runs/s1 --recipes "
        "trained+phi=0.5+onset+readout=delayed --out runs/lat_seeds",
        "neurosnn latency --list-recipes",
        "neurosnn latency --checkpoint runs/s0 --checkpoint runs/s1 --recipes all,phi+onset "
        "--ray 10.0.0.1:6379 --out runs/lat_cluster",
    ),
    info={"--list-recipes": LIST_RECIPES},
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses
    import json
    import logging
    import time
    from pathlib import Path

    from neurosnn.experiments.common import claim_output, load_network, say, setup_logging
    from neurosnn.io.output import write_json
    from neurosnn.jobs.latency import aggregate, measure_latency, recipes_for
    from neurosnn.jobs.latency_table import table
    from neurosnn.jobs.sweep import Network

    job.source.require()
    cfg, source = job.latency, job.source
    out = claim_output(job.output.out)
    device = job.hardware.apply()
    setup_logging(out / "latency.log")
    log = logging.getLogger("neurosnn.jobs.latency")
    start = time.perf_counter()
    reports, per_checkpoint = [], {}
    job.write_config(out)

    def networks():
        for which in range(source.count):
            ckpt, data, path = load_network(source, which)
            # a checkpoint's run folder, or the weights file's name
            name = Path(path).parent.name if not source.model else Path(path).stem
            log.info("checkpoint %s (%s, %s)", name, ckpt.spec.name, ckpt.dataset)
            meta = {
                "checkpoint": path,
                "network": dataclasses.asdict(ckpt.spec),
                "dataset": ckpt.dataset,
            }
            yield Network(name, out / name, ckpt.build(), data, meta)

    if job.cluster.ray_address is not None:  # the units on the cluster; the tables below
        from neurosnn.jobs.sweep import sweep

        def units():
            for net in networks():
                size = net.data.input_size
                shape = (net.data.in_channels, size, size)
                yield net, list(cfg.recipes or [r.name for r in recipes_for(net.model, shape, cfg)])

        sweep(units(), cfg, job.cluster, device)
    for net in networks():
        name, folder = net.name, net.folder
        report = measure_latency(
            net.model, net.data, cfg, folder, net.meta, device=device, progress=job.output.progress
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
        "command": job.command_line,
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
