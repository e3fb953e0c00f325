"""Which neurons SRP silences, against the ANN the SNN stands for (Hao et al., AAAI 2023;
``neurosnn.simulation.srp``). SRP is meant to silence neurons whose ANN activation is 0 but that
fire early (their positive inputs arriving first); a neuron the ANN activates whose potential has
not yet risen above the margin after the τ pre-simulation steps is silenced too, and its
spikes never come. Per IF layer, on test images, without the layer delay (as SRP runs):

* silenced: the share of the layer's neurons SRP silences;
* caught: of the neurons whose ANN activation is 0, the share silenced (what SRP is for);
* lost: of the neurons the ANN activates, the share silenced;
* lost activation: the share of the layer's expected spikes (its ANN activation clipped at
  θ, the rate × θ the SNN approximates) that falls on silenced neurons.

    python -m analysis.srp runs/front_vgg15_srp/fmnist_vgg15_s0/phi+channelwise+srp4.snn.h5 \\
        runs/front_vgg15_qcfs4_srp/fmnist_vgg15_qcfs4_s0/trained+phi+srp4.snn.h5
"""

from __future__ import annotations

import functools
import operator
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from neurosnn.errors import UserError
from neurosnn.io.output import write_json
from neurosnn.simulation.engine.fast import Simulation
from neurosnn.simulation.options import check_presim
from neurosnn.snn.network import ConvertedSNN


@dataclass(frozen=True)
class MaskCounts:
    """Counts over images × neurons of one layer (or several, added)."""

    neurons: int
    silenced: int
    zero: int  # ANN activation 0
    silenced_zero: int
    silenced_active: int
    expected: float  # Σ min(activation, θ)
    lost_expected: float  # the same over the silenced neurons

    def __add__(self, other: MaskCounts) -> MaskCounts:
        pairs = zip(asdict(self).values(), asdict(other).values(), strict=True)
        return MaskCounts(*(a + b for a, b in pairs))

    def shares(self) -> dict[str, float]:
        """silenced, caught, lost and lost activation as fractions (0 where nothing to count)."""
        active = self.neurons - self.zero

        def share(part: float, whole: float) -> float:
            return part / whole if whole else 0.0

        return {
            "silenced": share(self.silenced, self.neurons),
            "ann_zero": share(self.zero, self.neurons),
            "caught": share(self.silenced_zero, self.zero),
            "lost": share(self.silenced_active, active),
            "lost_activation": share(self.lost_expected, self.expected),
        }


@torch.no_grad()
def mask_counts(
    snn: ConvertedSNN, x: torch.Tensor, presim: int, bias_onset: str = "always"
) -> dict[str, MaskCounts]:
    """Per IF layer, SRP's mask after ``presim`` steps without the layer delay (the one
    ``simulate(presim=τ, delay="none")`` takes) on images ``x [B, C, H, W]``, counted against
    the activations of ``snn.ann_forward(x)``."""
    check_presim(presim)
    if presim < 1:
        raise UserError(f"presim must be >= 1 to have a mask to measure, got {presim}")
    x = x.to(snn.device, torch.float32)
    b = len(x)
    theta, phi = snn.per_sample(b)
    sim = Simulation(snn, b, theta, phi, "none", bias_onset, presim)
    sim.block(x.unsqueeze(0).expand(presim, *x.shape), constant=True)
    masks = sim.silenced_by_srp()
    counts = {}
    for name, _, act in snn.ann_forward(x):
        if name not in masks:
            continue
        act, mask = act.flatten(1), masks[name]
        zero = act <= 0
        expected = act.clamp(0, float(snn.layer(name).thresh))
        counts[name] = MaskCounts(
            neurons=act.numel(),
            silenced=int(mask.sum()),
            zero=int(zero.sum()),
            silenced_zero=int((mask & zero).sum()),
            silenced_active=int((mask & ~zero).sum()),
            expected=float(expected.sum()),
            lost_expected=float(expected[mask].sum()),
        )
    return counts


def _test_images(source: dict, n: int, seed: int, root: str | None) -> torch.Tensor:
    from neurosnn.io.data import load_dataset, seeded_subset, with_normalisation

    if "dataset" not in source:
        raise UserError("the SNN file does not say which data set it was made for")
    data = load_dataset(source["dataset"], root)
    if "mean" in source and "std" in source:
        data = with_normalisation(data, tuple(source["mean"]), tuple(source["std"]))
    test, _ = seeded_subset(data.test, n, seed)
    return torch.cat([x for x, _ in test.batches(len(test))])


def pooled(counts: dict[str, MaskCounts]) -> MaskCounts:
    """Every layer's counts added: the network's."""
    return functools.reduce(operator.add, counts.values())


def table(counts: dict[str, MaskCounts]) -> str:
    """A markdown table: one row per layer and one for all layers together (%)."""
    rows = ["| layer | silenced | ANN 0 | caught | lost | lost activation |", "|---" * 6 + "|"]
    for name, c in [*counts.items(), ("all", pooled(counts))]:
        s = c.shares()
        cells = [s[k] for k in ("silenced", "ann_zero", "caught", "lost", "lost_activation")]
        rows.append(f"| {name} | " + " | ".join(f"{100 * v:.1f}" for v in cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command
    from neurosnn.experiments.plots import PLOTS

    return run_command(PLOTS["srp"], argv)


def run(job) -> int:
    args = job.plot
    from neurosnn.io.snnfile import load_snn

    found = {}
    for path in args.snn:
        snn, meta = load_snn(path)
        source = meta["source"]
        presim = args.presim or source.get("simulation", {}).get("presim")
        if not presim:
            raise UserError(f"{path} records no SRP presim; give --presim TAU")
        onset = source.get("simulation", {}).get("bias_onset", "always")
        x = _test_images(source, args.test_images, args.seed, args.data_root)
        counts = mask_counts(snn, x, presim, onset)
        print(f"\n{path} (τ = {presim}, {args.test_images} test images)\n\n{table(counts)}")
        found[path] = {"presim": presim, "bias_onset": onset}
        found[path]["layers"] = {
            n: {"counts": asdict(c), "shares": c.shares()}
            for n, c in [*counts.items(), ("all", pooled(counts))]
        }
    if args.out:
        out = Path(args.out)
        if out.suffix != ".json":  # 0.2 took the JSON file itself
            out.mkdir(parents=True, exist_ok=True)
            out = out / "srp.json"
        write_json(out, found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
