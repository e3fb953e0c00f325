"""Layer-wise STDP and a ReLU classifier against the same classifier on random frozen features
as a job (Panda, Aketi & Roy 2020, §4.3, Tables 6 and 12), with and without BackRes. Every
stage is cached in the output folder as it completes, so an interrupted run resumes; each
cache records the options it was computed from, and a run with other options refuses it
instead of reusing it (``stage_options``). The command is ``experiments.stdp`` (its
docstring describes the networks and files).

    data = load_dataset("fashion-mnist")
    summary = run_stdp(STDPJobConfig(nets=("stdp2",)), data, Path("runs/stdp"))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from neurosnn.config.stdp import STDPJobConfig
from neurosnn.errors import UserError
from neurosnn.io.data import Dataset, subset_size
from neurosnn.io.output import as_saved, atomic, changed_settings, write_json
from neurosnn.learn.stdp import ConvSpec

log = logging.getLogger("neurosnn.learn.stdp")

# the paper's ResNet2, ResNet3 and ResNet2x2 (Table 7, missing from its text, which fixes
# their unique convolutions and logical depths: ResNet3 one convolution deeper than ResNet2,
# ResNet2x2 as deep as ResNet3 by computing its second convolution twice); built here as plain
# stacks of 32 maps per convolution with 2×2 OR-pooling, the BackRes unrolling being
# ResNet2x2's residual connection
NETWORKS = {
    "stdp2": (ConvSpec(32, 5), ConvSpec(32, 3)),
    "stdp3": (ConvSpec(32, 5), ConvSpec(32, 3, pool=1), ConvSpec(32, 3)),
    "stdp2x2": (ConvSpec(32, 5), ConvSpec(32, 3, repeat=2)),
}

# the STDPConfig fields that only change how weights learn: the random control never learns,
# so its caches stay valid when these change
LEARNING_ONLY = ("rule", "nu", "nu_decay", "reduction", "backend", "winners", "decorrelation")


def stage_options(cfg: STDPJobConfig, data: Dataset, kind: str) -> dict:
    """The options a cached stage was computed from: a network trained with STDP (``kind =
    "stdp"``), the random control (``"random"``), or the controls without STDP
    (``"controls"``: the pixels and the ANN), as plain JSON values."""
    if kind == "controls":
        key: dict[str, Any] = {
            "train_images": cfg.train_images,
            "test_images": cfg.test_images,
            "classifier_epochs": cfg.classifier_epochs,
        }
    else:
        stdp = dataclasses.asdict(cfg.stdp)
        key = {
            "images": cfg.stdp_images if kind == "stdp" else cfg.control_images,
            "stdp_batch": cfg.stdp_batch,
            "stdp": {k: v for k, v in stdp.items() if kind == "stdp" or k not in LEARNING_ONLY},
        }
    return as_saved({"dataset": data.name, "seed": cfg.seed, **key})


def check_options(path: Path, saved: dict | None, expected: dict) -> None:
    """Refuse a cache computed from other options than ``expected`` (one line naming each
    difference); a cache of an older run, which recorded none, is reused with a warning."""
    if saved is None:
        log.warning("%s records no options (an older run's cache): reused unchecked", path)
        return
    if saved == expected:
        return
    diff = changed_settings(_flat(saved), _flat(expected))
    raise UserError(
        f"{path} was computed with other options ({diff}): give another --out, or delete it "
        "to recompute"
    )


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def load_cache(path: Path) -> dict:
    """A cached network or feature file of an earlier run, loaded without running pickled
    code (tensors and plain containers only)."""
    import torch

    try:
        saved = torch.load(path, weights_only=True)
    except Exception as err:  # torch raises several unrelated types for foreign files
        raise UserError(f"cannot read {path} (delete it to recompute): {err}") from err
    if not isinstance(saved, dict):
        raise UserError(f"{path} is not a cache of neurosnn.jobs.stdp (delete it to recompute)")
    return saved


def trained(name: str, kind: str, cfg: STDPJobConfig, data: Dataset, folder: Path, progress):
    """The network ``name`` trained with STDP (``kind = "stdp"``) or with its thresholds only
    adapted (``"random"``), loaded from ``folder`` when an earlier run saved it; with its
    firing-rate history, the kernels' convergence per layer (``train_layerwise``; empty for the
    control and for caches written before it was recorded) and the training time."""
    import torch

    from neurosnn.learn.stdp import STDPNet, train_layerwise

    shape = (data.in_channels, data.input_size, data.input_size)
    net = STDPNet(list(NETWORKS[name]), shape, cfg.stdp, seed=cfg.seed, device=cfg.device)
    path = folder / f"{kind}.pt"
    options = stage_options(cfg, data, kind)
    if path.is_file():
        saved = load_cache(path)
        check_options(path, saved.get("options"), options)
        net.load_state_dict(saved["state"])
        log.info("%s %s: reusing %s", name, kind, path)
        return net, saved["history"], saved.get("convergence", {}), saved["seconds"]
    n = cfg.stdp_images if kind == "stdp" else cfg.control_images
    subset = data.train.random_subset(min(n, len(data.train)), cfg.seed + 1)
    start = time.perf_counter()
    convergence: dict = {}
    history = train_layerwise(
        net,
        subset,
        data.mean,
        data.std,
        batch_size=cfg.stdp_batch,
        seed=cfg.seed,
        learn_weights=kind == "stdp",
        progress=progress,
        convergence=convergence,
    )
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    cache = {
        "state": net.state_dict(),
        "history": history,
        "convergence": convergence,
        "seconds": seconds,
        "options": options,
    }
    with atomic(path) as tmp:  # a cache is the whole file or none
        torch.save(cache, tmp)
    return net, history, convergence, seconds


def convergence_summary(convergence: dict) -> dict:
    """Per layer: the kernels' relative change per batch at the start and settled (the last
    tenth of the batches), and their mutual similarity after the first and the last batch."""
    from neurosnn.learn.competition import settled

    return {
        layer: {
            "first_change": c["change"][0],
            "final_change": settled(c["change"]),
            "first_similarity": c["similarity"][0],
            "final_similarity": c["similarity"][-1],
        }
        for layer, c in convergence.items()
        if c["change"]
    }


def features(net, kind: str, split_name: str, split, cfg: STDPJobConfig, data, folder, progress):
    """Spike counts of the frozen network's last layer on ``split`` (cached in ``folder``)."""
    import torch

    from neurosnn.learn.stdp import Features, spike_features

    path = folder / f"features-{kind}-{split_name}.pt"
    options = {**stage_options(cfg, data, kind), "split_images": len(split)}
    if path.is_file():
        saved = load_cache(path)
        check_options(path, saved.pop("options", None), options)
        return Features(**saved)
    start = time.perf_counter()
    f = spike_features(net, split, data.mean, data.std, seed=cfg.seed, progress=progress)
    seconds = time.perf_counter() - start
    log.info("%s %s: features of %d %s images in %.0f s", folder.name, kind, len(split),
             split_name, seconds)  # fmt: skip
    with atomic(path) as tmp:
        torch.save({**dataclasses.asdict(f), "options": options}, tmp)
    return f


def run_network(name: str, cfg: STDPJobConfig, data: Dataset, out: Path, progress: bool):
    """Both kinds (STDP, random control) of one network and their classifiers; returns its
    summary and the arrays it records (kernels, firing-rate histories)."""
    import torch

    from neurosnn.learn.readout import build_classifier, rates
    from neurosnn.learn.stdp import kernel_similarity

    folder, specs, T = out / name, NETWORKS[name], cfg.stdp.timesteps
    train = data.train.random_subset(subset_size(cfg.train_images, data.train), cfg.seed)
    test = data.test.random_subset(subset_size(cfg.test_images, data.test), 0)
    result: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    for kind in ("stdp", "random"):
        net, history, convergence, seconds = trained(name, kind, cfg, data, folder, progress)
        f_train = features(net, kind, "train", train, cfg, data, folder, progress)
        f_test = features(net, kind, "test", test, cfg, data, folder, progress)
        x_train, x_test = rates(f_train.counts, T), rates(f_test.counts, T)
        entry: dict[str, Any] = {
            "training_seconds": seconds,
            "thresholds": {layer.name: layer.threshold_values() for layer in net.layers},
            "kernel_similarity": {
                layer.name: kernel_similarity(layer.weight.cpu()) for layer in net.layers
            },
            "final_rate": {n: h[-1] for n, h in history.items()},
            "convergence": convergence_summary(convergence),
            "spikes_per_image": {
                n: float(s.sum()) / len(test) for n, s in f_test.step_spikes.items()
            },
            "classifiers": {},
        }
        for clf in cfg.classifiers:
            torch.manual_seed(cfg.seed)
            model = build_classifier(clf, net.output_shape, data.num_classes)
            fitted = fit(model, (x_train, f_train.labels), (x_test, f_test.labels), cfg, progress)
            e = net.energy(f_test.step_spikes, len(test), model.cpu())
            entry["classifiers"][clf] = {**fitted, "energy": e.as_dict()}
            acc = fitted["accuracy"]
            log.info("%s %s %s: test accuracy %.4f, EE %.2f", name, kind, clf, acc, e.efficiency)
        result[kind] = entry
        arrays[f"{name}.{kind}"] = {
            **{f"{layer.name}.weight": layer.weight.cpu().numpy() for layer in net.layers},
            **{f"rate.{n}": torch.tensor(h).numpy() for n, h in history.items()},
            **{
                f"{series}.{layer}": torch.tensor(values).numpy()
                for layer, c in convergence.items()
                for series, values in c.items()
            },
        }
    controls = Controls(cfg, data, train, test, out)
    result["pixels"], result["ann"] = controls.pixels(), controls.ann(name)
    result["unique_convolutions"] = len(specs)
    result["logical_depth"] = sum(s.repeat for s in specs)
    return result, arrays


def fit(model, train_xy, test_xy, cfg: STDPJobConfig, progress: bool = False) -> dict:
    """``model`` trained on ``train_xy = (inputs, labels)`` as every classifier of the job is
    (``train_classifier``, ``cfg.classifier_epochs``) and tested on ``test_xy``."""
    from neurosnn.learn.readout import ReadoutConfig, accuracy, train_classifier

    rcfg = ReadoutConfig(epochs=cfg.classifier_epochs, seed=cfg.seed)
    losses = train_classifier(model, *train_xy, rcfg, cfg.device, progress)
    return {
        "accuracy": accuracy(model, *test_xy, cfg.device),
        "train_accuracy": accuracy(model, *train_xy, cfg.device),
        "final_loss": losses[-1],
    }


class Controls:
    """The controls without STDP, on the raw pixels in [0, 1] of the labelled images (what the
    STDP network sees as spike probabilities): ``pixels``, the classifiers on the pixels (one
    per run: the same for every network); ``ann``, a network's topology as an ANN trained end
    to end (``SameTopologyANN``). Each result is cached as JSON in the output folder."""

    def __init__(self, cfg: STDPJobConfig, data: Dataset, train, test, out: Path) -> None:
        self.cfg, self.data, self.out, self._splits = cfg, data, out, (train, test)
        self.shape = (data.in_channels, data.input_size, data.input_size)
        self._raw: tuple | None = None

    def pixels(self) -> dict:
        from neurosnn.learn.readout import build_classifier

        classes = self.data.num_classes
        return self._all("pixels", self.out, lambda clf: build_classifier(clf, self.shape, classes))

    def ann(self, name: str) -> dict:
        from neurosnn.learn.readout import SameTopologyANN

        classes, specs = self.data.num_classes, NETWORKS[name]
        return self._all(
            "ann", self.out / name, lambda clf: SameTopologyANN(specs, self.shape, clf, classes)
        )

    def _all(self, kind: str, folder: Path, build) -> dict:
        """``build(clf)`` for every classifier, each trained and tested once (``_fit``)."""
        return {
            "classifiers": {
                clf: self._fit(folder / f"{kind}-{clf}.json", kind, clf, build)
                for clf in self.cfg.classifiers
            }
        }

    def _fit(self, path: Path, kind: str, clf: str, build) -> dict:
        """``build(clf)`` trained as the classifiers are (``train_classifier``) and tested, or
        its cached result."""
        import json

        import torch

        options = stage_options(self.cfg, self.data, "controls")
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise UserError(f"cannot read {path} (delete it to recompute): {err}") from err
            if not isinstance(saved, dict):
                raise UserError(f"{path} is not a result of neurosnn.jobs.stdp (delete it)")
            check_options(path, saved.get("options"), options)
            return saved.get("result", saved)  # an older run's file holds the result alone
        torch.manual_seed(self.cfg.seed)
        result = fit(build(clf), *self._pixels(), self.cfg)
        log.info("%s %s: test accuracy %.4f", kind, clf, result["accuracy"])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"options": options, "result": result})
        return result

    def _pixels(self) -> tuple:
        import torch

        from neurosnn.learn.stdp import pixels

        def raw(split):
            batches = list(split.batches(1024))
            x = torch.cat([pixels(x, self.data.mean, self.data.std) for x, _ in batches])
            return x, torch.cat([y for _, y in batches])

        if self._raw is None:
            self._raw = tuple(raw(split) for split in self._splits)
        return self._raw


def run_stdp(cfg: STDPJobConfig, data: Dataset, out: Path, progress: bool = True) -> dict:
    """Every network of ``cfg``; writes out/<net>/*.pt (the caches), out/stdp.h5 (kernels,
    thresholds, firing-rate histories) and out/summary.json, which it returns."""
    from neurosnn.io.record import write_arrays

    start = time.perf_counter()
    results, arrays = {}, {}
    for name in cfg.nets:
        results[name], a = run_network(name, cfg, data, out, progress)
        arrays.update(a)
    config = dataclasses.asdict(cfg)
    write_arrays(out / "stdp.h5", arrays, config)
    summary = {"networks": results, "config": config, "wall_seconds": time.perf_counter() - start}
    write_json(out / "summary.json", summary)
    return summary
