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
accuracy clean and attacked, latency improvement under attack, the adversarial noise
sensitivity (ANS: ‖a_adv − a‖₂ / ‖a‖₂ of a layer's activations) per layer of the ANN and the SNN,
and the correlation of the optimised thresholds with the ANS).
"""

from __future__ import annotations

import sys

from neurosnn.analysis.adversarial import plot_adversarial
from neurosnn.analysis.neuroevolution import plot_search
from neurosnn.experiments.common import (
    claim_output,
    comma_list,
    finish,
    load_source,
    say,
)
from neurosnn.experiments.search_args import build_parser, configs
from neurosnn.io.output import one_line_errors
from neurosnn.jobs.adversarial import AttackConfig, run_adversarial
from neurosnn.measures.attacks import parse_epsilon


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
        type=comma_list(parse_epsilon, "ε values"),
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
    out = claim_output(args.out)
    scfg, ecfg = configs(args)
    acfg = AttackConfig(args.epsilon, args.report_epsilons, args.ans_images, args.snn_attack_images)
    ckpt, data, _ = load_source(args)
    s = run_adversarial(ckpt, data, scfg, ecfg, acfg, out, args.resume, not args.no_progress)
    imp, clean_imp = s["latency_improvement"], s["clean_latency_improvement"]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    say(
        f"ε = {s['epsilon']:.4f}: ANN accuracy clean {s['ann_clean_accuracy']:.4f}, "
        f"FGSM {s['ann_adversarial_accuracy']:.4f}"
    )
    say(
        f"SNN under attack, final accuracy: baseline {s['baseline_final_accuracy']:.4f}, "
        f"optimised {s['optimized_final_accuracy']:.4f}; iso-accuracy latency improvement "
        f"{pct(imp)} (steps {s['baseline_steps_to_target']} → {s['optimized_steps_to_target']})"
    )
    say(
        f"SNN clean, final accuracy: baseline {s['snn_baseline_clean_final_accuracy']:.4f}, "
        f"optimised {s['snn_optimized_clean_final_accuracy']:.4f}; latency {pct(clean_imp)}"
    )
    for r in s["report_epsilons"]:
        say(
            f"ε = {r['epsilon']:.4f}: ANN {r['ann_accuracy']:.4f}, "
            f"SNN baseline {r['snn_baseline_final_accuracy']:.4f}"
        )
    layers = s["ans"]["ann"]["layers"]
    for i, name in enumerate(layers):
        say(
            f"  {name:<14} ANS ANN {s['ans']['ann']['mean'][i]:.3f}  SNN baseline "
            f"{s['ans']['snn_baseline']['mean'][i]:.3f}  optimised "
            f"{s['ans']['snn_optimized']['mean'][i]:.3f}"
        )
    if "snn_attack" in s:
        a = s["snn_attack"]
        say(
            f"FGSM through the SNN ({a['images']} images): SNN baseline "
            f"{a['snn_baseline_under_snn_attack']:.4f} (ANN-gradient attack "
            f"{a['snn_baseline_under_ann_attack']:.4f}), optimised "
            f"{a['snn_optimized_under_snn_attack']:.4f} "
            f"({a['snn_optimized_under_ann_attack']:.4f}); the ANN on it "
            f"{a['ann_on_snn_attack']:.4f}"
        )
    say(
        f"threshold–ANS correlation: ANN {s['threshold_ann_ans_correlation']:.2f}, "
        f"SNN {s['threshold_snn_ans_correlation']:.2f}"
    )
    finish(out, s, plot_search(out, out / "plots") + plot_adversarial(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
