"""Print a text summary of a run record: configuration, layers, firing rates, accuracy curve
(other files and folders: ``neurosnn.analysis.describe``).

python -m analysis.inspect runs/fmnist_vgg9/convert.h5
"""

from __future__ import annotations

import sys

import numpy as np

from neurosnn.errors import UserError
from neurosnn.io.record import RunRecord, read_run, record_in
from neurosnn.measures.energy import energy_of
from neurosnn.simulation.curve import iso_accuracy_step


def report(run: RunRecord) -> str:
    acc, T = run.accuracy, run.timesteps
    ann = run.metadata.get("ann_accuracy")
    lines = [
        f"run file      {run.path}",
        f"images        {run.n_images}    timesteps {T}    simulated in {run.wall_seconds:.1f} s",
        f"simulation    {', '.join(f'{k}={v}' for k, v in sorted(run.simulation.items()))}",
    ]
    net = run.metadata.get("network")
    if net is not None:  # a registry network (name, options) or a user's (module:factory)
        name = net.get("name") or net.get("factory")
        lines.append(
            f"network       {name} {net.get('options', {})} on {run.metadata.get('dataset')}"
        )
    elif "snn" in run.metadata:  # a saved SNN without a network spec (a NIR file)
        lines.append(f"network       {run.metadata['snn']} on {run.metadata.get('dataset')}")
    lines += [
        "",
        f"{'layer':<16}{'shape':<16}{'neurons':>9}{'threshold':>11}{'pctl':>8}"
        f"{'rate':>9}{'recorded':>10}",
    ]
    rates = run.firing_rates()
    for layer in run.layers:
        n = int(np.prod(layer.shape))
        thr = f"{layer.threshold:.4f}" if layer.threshold is not None else "-"
        pct = f"{layer.percentile:.2f}" if layer.percentile is not None else "-"
        rate = f"{rates[layer.name]:.4f}" if layer.name in rates else "-"
        rec = str(run.recorded.get(layer.name, "-"))
        lines.append(
            f"{layer.name:<16}{'x'.join(map(str, layer.shape)):<16}{n:>9}{thr:>11}"
            f"{pct:>8}{rate:>9}{rec:>10}"
        )
    lines += ["", "accuracy vs timestep:"]
    marks = sorted({max(1, round(T * f)) for f in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)})
    lines.append("  " + "  ".join(f"t={t}: {acc[t - 1]:.4f}" for t in marks))
    lines.append(f"  best {acc.max():.4f} at t={int(acc.argmax()) + 1}")
    if ann is not None:
        lines.append(
            f"  ANN accuracy {ann:.4f}; SNN within 1% of it from t="
            f"{iso_accuracy_step(acc, ann - 0.01)}, within 0.5% from t="
            f"{iso_accuracy_step(acc, ann - 0.005)}"
        )
    if len(run.macs) == len(run.layers):  # records written before MAC counts have none
        e = energy_of(run)
        lines += [
            "",
            f"energy per image (45 nm, E_MAC 3.2 pJ, E_AC 0.1 pJ): ANN {e.ann_pj / 1e6:.3f} µJ, "
            f"SNN {e.snn_pj / 1e6:.3f} µJ over {T} steps; EE {e.efficiency:.2f} "
            f"(spiking layers only {e.spiking_efficiency:.2f})",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import INSPECT

    return run_command(INSPECT, argv)


def run(job) -> int:
    from pathlib import Path

    from neurosnn.analysis.describe import describe

    try:
        text = describe(Path(job.plot.run))
        print(text if text is not None else report(read_run(record_in(job.plot.run))))
    except (FileNotFoundError, UserError) as err:
        raise SystemExit(f"error: {err}") from err
    return 0


if __name__ == "__main__":
    sys.exit(main())
