"""The threshold search under an FGSM attack as a job (Lu & Sengupta, Section IV-B, Fig. 2b,
Table III), with layer-wise adversarial noise sensitivity; the command is
``experiments.adversarial`` (its docstring lists the files). It never parses a command line
and never prints.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from neurosnn.config.attack import AttackConfig
from neurosnn.config.search import SearchConfig
from neurosnn.io.checkpoint import Checkpoint, resolve
from neurosnn.io.data import Dataset, seeded_subset
from neurosnn.io.output import ResumeMismatch, as_saved, write_json
from neurosnn.jobs.search import (
    EvalConfig,
    Prepared,
    prepare,
    run_neuroevolution,
    set_baseline,
    simulate_to,
    timing,
)


def cached_fgsm(model, split, epsilon: float, path: Path, source: dict, device, progress: bool):
    """FGSM of ``split``, read from ``path`` when it was made with the same ε and source."""
    from neurosnn.io.data import TensorSplit
    from neurosnn.io.record import read_images, write_images
    from neurosnn.measures.attacks import fgsm_split

    meta = {"epsilon": epsilon, "images": len(split), **source}
    if path.is_file():
        images, labels, saved = read_images(path)
        if saved == as_saved(meta):
            return TensorSplit(
                torch.from_numpy(images), torch.from_numpy(labels), split.mean, split.std
            )
    adv = fgsm_split(model, split, epsilon, device=device, progress=progress)
    write_images(path, adv.images.numpy(), adv.labels.numpy(), meta)
    return adv


def snn_aware_attack(
    snn, model, test, adv_test, acfg: AttackConfig, T: int, scfg, optimized, device, progress
) -> dict[str, Any]:
    """FGSM through the SNN itself (surrogate gradients of the baseline SNN unrolled over T)
    on the first ``snn_attack_images`` test images, against the ANN-gradient attack on them."""
    from neurosnn.learn.surrogate.network import SNNClassifier, SurrogateSNN
    from neurosnn.learn.train import evaluate
    from neurosnn.measures.attacks import fgsm_split
    from neurosnn.simulation.run import simulate

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
    ckpt: Checkpoint,
    data: Dataset,
    scfg: SearchConfig,
    ecfg: EvalConfig,
    acfg: AttackConfig,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    on_generation: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """The whole experiment on the checkpoint and its data (normalised as it was trained);
    returns the summary (also written to OUT/summary.json; the command adds its plots).
    ``on_generation`` is called after each generation of the search."""
    from neurosnn.learn.train import evaluate
    from neurosnn.measures.attacks import ann_activations, noise_sensitivity, snn_spike_totals
    from neurosnn.measures.significance import correlation
    from neurosnn.simulation.curve import compare_latency
    from neurosnn.simulation.run import simulate

    out.mkdir(parents=True, exist_ok=True)
    saved = out / "attack.json"
    attack_cfg = as_saved(acfg)
    # the search state depends on the attacked training set, i.e. on ε alone
    if resume and saved.is_file():
        before = json.loads(saved.read_text()).get("epsilon")
        if before != attack_cfg["epsilon"]:
            raise ResumeMismatch(
                f"cannot resume: {saved} was written with another attack (ε {before})"
            )
    write_json(saved, attack_cfg)
    prepared: Prepared = prepare(scfg, ecfg, ckpt, data)
    model, data, snn = prepared.model, prepared.data, prepared.snn
    test, _ = seeded_subset(data.test, ecfg.test_images, 0)
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
        prepared,
        scfg,
        inner,
        out,
        resume,
        progress,
        splits=(adv_train, adv_test),
        on_generation=on_generation,
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

    ans = {"ann": noise_sensitivity(ann_activations(model, snn.input_shape), pairs()).as_dict()}
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
    return summary
