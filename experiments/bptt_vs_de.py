"""The threshold search against BPTT fine-tuning from the same converted SNN (Lu & Sengupta
§V-C): accuracy vs timestep (Fig. 4) and the memory and time per batch (Fig. 5, Eq. 19).

Fig. 4: the SNN converted at the 99.7 percentile is (a) simulated as it is, (b) simulated with
the thresholds a search found (--search: a neurosnn search output folder; left out when not
given) and (c) fine-tuned with BPTT (IF neurons unrolled over --bptt-timesteps steps, the
linear surrogate with γ = 0.15, weights only), its weights put back into the BindsNET network
and simulated like the others. Fig. 5: for each T of --cost-timesteps, the time and peak
memory of one batch of SNN inference (what the search spends its time on) and of one BPTT step
at the same batch size (each peak in a fresh process), and the extrapolated running time of
Eq. 19 with the search's training cost (Eq. 17: E·G·P of the --search folder's search, or of
the --preset where none is given) and BPTT's 20 epochs.

Writes OUT/conversion.h5, OUT/optimized.h5 and OUT/bptt.h5 (run records), OUT/bptt.snn.h5 (the
fine-tuned SNN), OUT/summary.json, OUT/plots/*.png, OUT/bptt.log and OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.bptt import BPTTConfig
from neurosnn.config.common import Hardware, Output, Source
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command

COMMAND = Command(
    name="bptt",
    description=__doc__,
    parts=(
        Part("source", Source),
        Part("bptt", BPTTConfig),
        Part("output", Output),
        Part("hardware", Hardware),
    ),
    run="neurosnn.experiments.bptt_vs_de:run",
    examples=(
        "neurosnn bptt --checkpoint runs/fmnist_vgg9 --search runs/fmnist_vgg9_search "
        "--out runs/vgg9_bptt",
        "neurosnn bptt --checkpoint runs/fmnist_vgg9 --bptt-batches 50 --cost-timesteps 5,25 "
        "--out runs/vgg9_bptt_quick",
    ),
    check=lambda parts: parts["source"].require(one=True),
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    import dataclasses

    from neurosnn.analysis.bptt import plot_bptt
    from neurosnn.experiments.common import claim_output, finish, load_network, setup_logging
    from neurosnn.jobs.bptt import run_bptt_vs_search

    out = claim_output(job.output.out)
    setup_logging(out / "bptt.log")
    job.write_config(out)
    ckpt, data, path = load_network(job.source)
    cfg = dataclasses.replace(
        job.bptt, checkpoint=path, data_root=job.source.data_root, device=job.hardware.apply()
    )
    s = run_bptt_vs_search(cfg, ckpt, data, out, job.output.progress)
    print(
        f"final accuracy at T={cfg.timesteps}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in s["final_accuracy"].items())
    )
    for r in s["cost"]:
        inf_mib, bptt_mib = r["inference_peak_bytes"] / 2**20, r["bptt_peak_bytes"] / 2**20
        print(
            f"T={r['timesteps']:>3} batch {r['batch']}: inference "
            f"{r['inference_seconds_per_batch']:.3f} s {inf_mib:.0f} MiB, BPTT "
            f"{r['bptt_seconds_per_batch']:.3f} s {bptt_mib:.0f} MiB → time "
            f"×{r['time_ratio']:.1f}, memory ×{r['memory_ratio']:.1f}; Eq. 19 totals: search "
            f"{r['search_total_seconds'] / 3600:.2f} h, BPTT {r['bptt_total_seconds'] / 3600:.2f} h"
        )
    finish(out, s, plot_bptt(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
