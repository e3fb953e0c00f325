"""Threshold search for the accuracy–latency trade-off under an FGSM attack (Lu & Sengupta,
Section IV-B, Fig. 2b, Table III), with each layer's adversarial noise sensitivity (ANS:
‖a_adv − a‖₂ / ‖a‖₂ of its activations) in the ANN and the SNN.

FGSM (white-box, on the ANN whose weights the SNN shares) attacks the training and test images
once; they are cached in OUT/fgsm_train.h5 and OUT/fgsm_test.h5 with their ε and checkpoint.
The search scores its candidates on the attacked training images. Writes OUT/attack.json,
OUT/search.h5, OUT/baseline.h5 and OUT/optimized.h5 (attacked test set),
OUT/clean_baseline.h5 and OUT/clean_optimized.h5 (clean test set), OUT/plots/*.png,
OUT/summary.json (ANN and SNN accuracy clean and attacked, the latency improvement under
attack, ANS per layer, the thresholds' correlation with it), OUT/search.log and
OUT/config.yaml.
"""

from __future__ import annotations

import sys

from neurosnn.config.attack import AttackConfig
from neurosnn.experiments.parser import Command, Part
from neurosnn.experiments.parser import main as run_command
from neurosnn.experiments.search_args import RESUME, check, parts

COMMAND = Command(
    name="attack",
    description=__doc__,
    parts=(*parts("adversarial-fashion-mnist"), Part("attack", AttackConfig)),
    run="neurosnn.experiments.adversarial:run",
    examples=(
        "neurosnn attack --checkpoint runs/fmnist_vgg9 --epsilon 8/255 --out runs/vgg9_fgsm",
        "neurosnn attack --checkpoint runs/fmnist_vgg9 --report-epsilons 2/255,4/255 "
        "--snn-attack-images 0 --out runs/vgg9_fgsm_quick",
    ),
    retired={"--resume": RESUME},
    check=check,
)


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, argv)


def run(job) -> int:
    from neurosnn.analysis.adversarial import plot_adversarial
    from neurosnn.analysis.neuroevolution import plot_search
    from neurosnn.experiments.common import finish, say, tensorboard_scalars
    from neurosnn.experiments.search_args import start
    from neurosnn.jobs.adversarial import run_adversarial

    scfg, ecfg, out, ckpt, data = start(job)
    with tensorboard_scalars(job.scalars.tensorboard) as board:
        s = run_adversarial(
            ckpt,
            data,
            scfg,
            ecfg,
            job.attack,
            out,
            True,
            job.output.progress,
            on_generation=board and board.generation,
        )
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
