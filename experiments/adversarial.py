"""Threshold search for the accuracy–latency trade-off under an FGSM attack (Lu & Sengupta,
Section IV-B, Fig. 2b, Table III), with layer-wise adversarial noise sensitivity.

    python -m experiments.adversarial --checkpoint runs/fmnist_vgg9 --epsilon 8/255 \
        --out runs/fmnist_vgg9/adv

FGSM (white-box, on the ANN whose weights the SNN shares) attacks the training and test
images once; they are cached in OUT/fgsm_train.h5 and OUT/fgsm_test.h5 with their ε and
checkpoint. The search scores candidates on random subsets of the attacked TRAINING set. Writes
OUT/attack.json (the attack's config, checked by --resume), OUT/search.h5, OUT/baseline.h5 and
OUT/optimized.h5 (attacked test set), OUT/clean_baseline.h5
and OUT/clean_optimized.h5 (clean test set), OUT/plots/*.png and OUT/summary.json (ANN and SNN
accuracy clean and attacked, latency improvement under attack, ANS per layer of the ANN and
the SNN, and the correlation of the optimised thresholds with the ANS).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import torch

from neurosnn.attacks import parse_epsilon
from neurosnn.checkpoint import resolve
from neurosnn.evolve import SearchConfig
from neurosnn.experiments.common import claim_output, load_checkpoint_and_data
from neurosnn.experiments.search_args import build_parser, configs
from neurosnn.jobs.search import (
    EvalConfig,
    Prepared,
    prepare,
    run_neuroevolution,
    set_baseline,
    simulate_to,
    timing,
)
from neurosnn.output import ResumeMismatch, one_line_errors, write_json


@dataclasses.dataclass(frozen=True)
class AttackConfig:
    """The attack and the noise-sensitivity measurement."""

    epsilon: float = 8 / 255
    report_epsilons: tuple[float, ...] = (2 / 255, 4 / 255)  # ANN/SNN accuracy only
    ans_images: int = 500
    snn_attack_images: int = 500  # FGSM through the SNN's surrogate gradients (0: none)


def cached_fgsm(model, split, epsilon: float, path: Path, source: dict, device, progress: bool):
    """FGSM of ``split``, read from ``path`` when it was made with the same ε and source."""
    from neurosnn.attacks import fgsm_split
    from neurosnn.data import TensorSplit
    from neurosnn.record import read_images, write_images

    meta = {"epsilon": epsilon, "images": len(split), **source}
    if path.is_file():
        images, labels, saved = read_images(path)
        if saved == json_safe(meta):
            return TensorSplit(
                torch.from_numpy(images), torch.from_numpy(labels), split.mean, split.std
            )
    adv = fgsm_split(model, split, epsilon, device=device, progress=progress)
    write_images(path, adv.images.numpy(), adv.labels.numpy(), meta)
    return adv


def json_safe(meta: dict) -> dict:
    return json.loads(json.dumps(meta, sort_keys=True, default=str))


def snn_aware_attack(
    snn, model, test, adv_test, acfg: AttackConfig, T: int, scfg, optimized, device, progress
) -> dict[str, Any]:
    """FGSM through the SNN itself (surrogate gradients of the baseline SNN unrolled over T)
    on the first ``snn_attack_images`` test images, against the ANN-gradient attack on them."""
    from neurosnn.attacks import fgsm_split
    from neurosnn.simulate import simulate
    from neurosnn.surrogate.network import SNNClassifier, SurrogateSNN
    from neurosnn.train import evaluate

    first = torch.arange(min(acfg.snn_attack_images, len(test)))
    clean, by_ann = test.subset(first), adv_test.subset(first)
    set_baseline(snn, scfg)
    through = SNNClassifier(SurrogateSNN(snn, **timing(scfg)), T)
    by_snn = fgsm_split(
        through, clean, acfg.epsilon, batch_size=64, device=device, progress=progress
    )
    result = {"images": len(first), "timesteps": T, "ann_on_snn_attack": evaluate(model, by_snn)}
    for name, state in (("baseline", None), ("optimized", optimized)):
        if state is not None:
            use(snn, state)
        for attack, split in (("ann_attack", by_ann), ("snn_attack", by_snn)):
            r = simulate(snn, split.batches(256), T, **timing(scfg))
            result[f"snn_{name}_under_{attack}"] = float(r.accuracy[-1])
    return result


def use(snn, state: tuple[list[float], list[float]]) -> None:
    """Set the SNN to saved ``(thresholds, phi)``."""
    snn.set_thresholds(state[0])
    snn.set_phi(state[1])


def run_adversarial(
    scfg: SearchConfig,
    ecfg: EvalConfig,
    acfg: AttackConfig,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    allow_subset: bool = False,
) -> dict[str, Any]:
    """The whole experiment; returns the summary (also written to OUT/summary.json)."""
    from neurosnn.analysis.adversarial import plot_adversarial
    from neurosnn.analysis.neuroevolution import plot_search
    from neurosnn.attacks import ann_activations, noise_sensitivity, snn_spike_totals
    from neurosnn.cost import compare_latency
    from neurosnn.significance import correlation
    from neurosnn.simulate import simulate
    from neurosnn.train import evaluate

    out.mkdir(parents=True, exist_ok=True)
    saved = out / "attack.json"
    attack_cfg = json_safe(dataclasses.asdict(acfg))
    # the search state depends on the attacked training set, i.e. on ε alone
    if resume and saved.is_file():
        before = json.loads(saved.read_text()).get("epsilon")
        if before != attack_cfg["epsilon"]:
            raise ResumeMismatch(
                f"cannot resume: {saved} was written with another attack (ε {before})"
            )
    write_json(saved, attack_cfg)
    ckpt, data = load_checkpoint_and_data(ecfg.checkpoint, ecfg.data_root, allow_subset)
    prepared: Prepared = prepare(scfg, ecfg, ckpt, data)
    model, data, snn = prepared.model, prepared.data, prepared.snn
    test = data.test
    if ecfg.test_images is not None and ecfg.test_images < len(test):
        test = test.random_subset(ecfg.test_images, 0)
    source = {"checkpoint": str(resolve(ecfg.checkpoint)), "dataset": prepared.ckpt.dataset}
    attack = dict(epsilon=acfg.epsilon, device=ecfg.device, progress=progress)
    adv_train = cached_fgsm(
        model, data.train, path=out / "fgsm_train.h5", source={**source, "split": "train"}, **attack
    )
    adv_test = cached_fgsm(
        model, test, path=out / "fgsm_test.h5", source={**source, "split": "test"}, **attack
    )
    inner = dataclasses.replace(ecfg, test_images=None)  # the test subset is already drawn
    summary = run_neuroevolution(
        prepared, scfg, inner, out, resume, progress, splits=(adv_train, adv_test)
    )
    model = model.cpu()

    T = ecfg.timesteps or scfg.timesteps
    run_cfg = {"search": dataclasses.asdict(scfg), "eval": dataclasses.asdict(ecfg)}
    meta = {"checkpoint": source["checkpoint"], "input": "clean", "epsilon": acfg.epsilon}
    optimized = (snn.thresholds, snn.phi)
    clean_opt = simulate_to(out / "clean_optimized.h5", snn, test, T, run_cfg, ecfg, meta, scfg)
    set_baseline(snn, scfg)
    clean_base = simulate_to(out / "clean_baseline.h5", snn, test, T, run_cfg, ecfg, meta, scfg)
    clean_iso = compare_latency(clean_base.accuracy.numpy(), clean_opt.accuracy.numpy())

    report = []
    for eps in acfg.report_epsilons:
        attacked = cached_fgsm(
            model,
            test,
            eps,
            out / f"fgsm_test_{eps:.5f}.h5",
            {**source, "split": "test"},
            ecfg.device,
            progress,
        )
        r = simulate(snn, attacked.batches(256), T, **timing(scfg))
        report.append(
            {
                "epsilon": eps,
                "ann_accuracy": evaluate(model, attacked),
                "snn_baseline_final_accuracy": float(r.accuracy[-1]),
            }
        )

    n = min(acfg.ans_images, len(test))

    def pairs():
        return zip(
            (x for x, _ in test.subset(torch.arange(n)).batches(128)),
            (x for x, _ in adv_test.subset(torch.arange(n)).batches(128)),
            strict=True,
        )

    ans = {"ann": noise_sensitivity(ann_activations(model), pairs()).as_dict()}
    totals = snn_spike_totals(snn, T, scfg.delay, scfg.bias_onset)
    ans["snn_baseline"] = noise_sensitivity(totals, pairs()).as_dict()
    use(snn, optimized)
    ans["snn_optimized"] = noise_sensitivity(totals, pairs()).as_dict()
    if acfg.snn_attack_images:
        summary["snn_attack"] = snn_aware_attack(
            snn, model, test, adv_test, acfg, T, scfg, optimized, ecfg.device, progress
        )
    candidate = summary["thresholds_percentile"] or summary["thresholds_scale"]
    summary.update(
        epsilon=acfg.epsilon,
        initial_percentile=scfg.initial_percentile,
        ann_clean_accuracy=evaluate(model, test),
        ann_adversarial_accuracy=summary["ann_accuracy"],  # the search's test split is attacked
        snn_baseline_clean_final_accuracy=float(clean_base.accuracy[-1]),
        snn_optimized_clean_final_accuracy=float(clean_opt.accuracy[-1]),
        clean_latency_improvement=clean_iso.improvement,
        report_epsilons=report,
        ans=ans,
        ans_images=n,
        # the paper's reading of Fig. 2b: low thresholds on high-ANS layers (a negative value)
        threshold_ann_ans_correlation=correlation(candidate, ans["ann"]["mean"]),
        threshold_snn_ans_correlation=correlation(candidate, ans["snn_baseline"]["mean"]),
    )
    write_json(out / "summary.json", summary)
    plots = plot_search(out, out / "plots") + plot_adversarial(out)
    summary["plots"] = [str(p) for p in plots]
    write_json(out / "summary.json", summary)
    return summary


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = build_parser("python -m experiments.adversarial", __doc__, "adversarial-fashion-mnist")
    p.add_argument(
        "--epsilon",
        type=parse_epsilon,
        default=8 / 255,
        help="FGSM strength in pixel units, e.g. 8/255 (default) or 0.03",
    )
    p.add_argument(
        "--report-epsilons",
        default="2/255,4/255",
        help="comma-separated further ε at which ANN and baseline-SNN accuracy are reported "
        "(no search; default: %(default)s; empty for none)",
    )
    p.add_argument(
        "--ans-images",
        type=int,
        default=500,
        help="test images the noise sensitivity is averaged over (default: %(default)s)",
    )
    p.add_argument(
        "--snn-attack-images",
        type=int,
        default=500,
        help="test images also attacked by FGSM through the SNN itself (surrogate gradients, "
        "BPTT over T; slow on a CPU); 0 for none (default: %(default)s)",
    )
    args = p.parse_args(argv)
    claim_output(args.out)
    scfg, ecfg = configs(args)
    try:
        extra = tuple(parse_epsilon(e) for e in args.report_epsilons.split(",") if e.strip())
    except ValueError as err:
        raise SystemExit(f"error: --report-epsilons: {err}") from err
    if args.ans_images < 1 or args.snn_attack_images < 0:
        raise SystemExit("error: --ans-images must be >= 1 and --snn-attack-images >= 0")
    acfg = AttackConfig(args.epsilon, extra, args.ans_images, args.snn_attack_images)
    try:
        s = run_adversarial(scfg, ecfg, acfg, Path(args.out), args.resume, not args.no_progress)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from err
    imp, clean_imp = s["latency_improvement"], s["clean_latency_improvement"]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    print(
        f"ε = {s['epsilon']:.4f}: ANN accuracy clean {s['ann_clean_accuracy']:.4f}, "
        f"FGSM {s['ann_adversarial_accuracy']:.4f}"
    )
    print(
        f"SNN under attack, final accuracy: baseline {s['baseline_final_accuracy']:.4f}, "
        f"optimised {s['optimized_final_accuracy']:.4f}; iso-accuracy latency improvement "
        f"{pct(imp)} (steps {s['baseline_steps_to_target']} → {s['optimized_steps_to_target']})"
    )
    print(
        f"SNN clean, final accuracy: baseline {s['snn_baseline_clean_final_accuracy']:.4f}, "
        f"optimised {s['snn_optimized_clean_final_accuracy']:.4f}; latency {pct(clean_imp)}"
    )
    for r in s["report_epsilons"]:
        print(
            f"ε = {r['epsilon']:.4f}: ANN {r['ann_accuracy']:.4f}, "
            f"SNN baseline {r['snn_baseline_final_accuracy']:.4f}"
        )
    layers = s["ans"]["ann"]["layers"]
    for i, name in enumerate(layers):
        print(
            f"  {name:<14} ANS ANN {s['ans']['ann']['mean'][i]:.3f}  SNN baseline "
            f"{s['ans']['snn_baseline']['mean'][i]:.3f}  optimised "
            f"{s['ans']['snn_optimized']['mean'][i]:.3f}"
        )
    if "snn_attack" in s:
        a = s["snn_attack"]
        print(
            f"FGSM through the SNN ({a['images']} images): SNN baseline "
            f"{a['snn_baseline_under_snn_attack']:.4f} (ANN-gradient attack "
            f"{a['snn_baseline_under_ann_attack']:.4f}), optimised "
            f"{a['snn_optimized_under_snn_attack']:.4f} "
            f"({a['snn_optimized_under_ann_attack']:.4f}); the ANN on it "
            f"{a['ann_on_snn_attack']:.4f}"
        )
    print(
        f"threshold–ANS correlation: ANN {s['threshold_ann_ans_correlation']:.2f}, "
        f"SNN {s['threshold_snn_ans_correlation']:.2f}; summary in {args.out}/summary.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
