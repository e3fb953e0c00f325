"""The workflows of neurosnn.jobs called from Python, on the synthetic set or the shipped
Fashion-MNIST subset: what they return, what they write, what they reuse."""

import dataclasses
import json
import logging

import numpy as np
import pytest
import torch

from neurosnn.config.search import PRESETS
from neurosnn.errors import UserError
from neurosnn.io.checkpoint import load_checkpoint
from neurosnn.io.data import load_dataset, with_normalisation
from neurosnn.io.record import read_arrays, read_run
from neurosnn.io.snnfile import load_snn
from tests.conftest import CodePayload
from tests.test_experiments import train_synthetic
from tests.test_plots import covered

SUBSET = "data/fashion-mnist-subset"


def all_covered(figures) -> None:
    """Every figure a plot made (kept open by the ``kept`` fixture) covers its data."""
    assert figures
    for fig in figures:
        covered(fig)


def without_command_logging() -> None:
    """As in a notebook: none of the handlers a command's logging set up."""
    root = logging.getLogger("neurosnn")
    for handler in list(root.handlers):
        root.removeHandler(handler)


@pytest.fixture(autouse=True)
def prints_nothing(capsys):
    """A job prints nothing."""
    without_command_logging()
    yield
    assert capsys.readouterr().out == ""


def checkpoint_and_data(folder, capsys):
    """A trained tiny VGG5 (through the train command, whose output is dropped)."""
    train_synthetic(folder)
    without_command_logging()
    capsys.readouterr()
    ckpt = load_checkpoint(folder)
    return ckpt, with_normalisation(load_dataset(ckpt.dataset), ckpt.mean, ckpt.std)


@pytest.mark.slow
def test_bptt_against_the_search(tmp_path, capsys, monkeypatch, kept):
    from neurosnn.analysis.bptt import plot_bptt
    from neurosnn.jobs.bptt import BPTTConfig, run_bptt_vs_search
    from neurosnn.jobs.search import EvalConfig, prepare, run_neuroevolution
    from neurosnn.learn.surrogate.finetune import FinetuneConfig

    ann, ne = tmp_path / "ann", tmp_path / "ne"
    ckpt, data = checkpoint_and_data(ann, capsys)
    scfg = dataclasses.replace(
        PRESETS["quick"], images=32, timesteps=12, generations=1, phi=0.5, bias_onset="input"
    )
    scfg = dataclasses.replace(scfg, search_phi=True)
    ecfg = EvalConfig(checkpoint=str(ann), long_horizon=1, record_spikes=0, pca_images=32)
    found = run_neuroevolution(prepare(scfg, ecfg, ckpt, data), scfg, ecfg, ne, progress=False)
    cfg = BPTTConfig(
        checkpoint=str(ann),
        search=str(ne),
        timesteps=12,
        test_images=32,
        finetune=FinetuneConfig(timesteps=8, max_batches=2, batch_size=16),
        cost_timesteps=(2, 4),
        cost_batch=8,
        repeats=1,
    )
    out = tmp_path / "bptt"
    s = run_bptt_vs_search(cfg, ckpt, data, out, progress=False)
    assert set(s["final_accuracy"]) == {"conversion", "threshold search", "BPTT"}
    assert all(len(c) == 12 for c in s["accuracy"].values())
    assert [r["timesteps"] for r in s["cost"]] == [2, 4]
    for r in s["cost"]:
        assert r["bptt_seconds_per_batch"] > 0 and r["inference_seconds_per_batch"] > 0
        assert r["bptt_peak_bytes"] > 0  # measured in a fresh process
        # Eq. 19 with the search's E·G·P (32·1·6) and BPTT's 20 epochs of 512 images
        assert r["search_total_seconds"] == pytest.approx(
            r["inference_seconds_per_batch"] * 32 * 1 * 6 / 8
        )
        assert r["bptt_total_seconds"] == pytest.approx(r["bptt_seconds_per_batch"] * 20 * 512 / 8)
    assert json.loads((out / "summary.json").read_text())["cost"] == s["cost"]
    tuned, meta = load_snn(ne / "optimized.snn.h5")  # the search's SNN, kept
    assert tuned.thresholds == pytest.approx(found["thresholds"], rel=1e-6)
    assert meta["source"]["simulation"] == {"delay": "layer", "bias_onset": "input"}
    fine, meta = load_snn(out / "bptt.snn.h5")  # the fine-tuned SNN, with its new weights
    assert meta["source"]["made_by"] == "neurosnn.jobs.bptt"
    first = next(iter(fine.network.connections.values())).ops[0].weight
    assert not torch.equal(first, next(iter(tuned.network.connections.values())).ops[0].weight)
    # every run is the SNN the search tuned: its conversion, phi and timing
    conversion, optimized = read_run(out / "conversion.h5"), read_run(out / "optimized.h5")
    assert conversion.simulation["phi"] == [0.5] * 4
    assert optimized.simulation["phi"] == pytest.approx(found["phi"])
    assert {r.simulation["bias_onset"] for r in (conversion, optimized)} == {"input"}
    assert read_run(out / "bptt.h5").timesteps == 12
    # the command prints and plots what the job returns
    from neurosnn.experiments import bptt_vs_de
    from neurosnn.jobs import bptt

    monkeypatch.setattr(bptt, "run_bptt_vs_search", lambda *a: s)
    assert capsys.readouterr().out == ""  # the job printed nothing
    assert bptt_vs_de.main(["--checkpoint", str(ann), "--out", str(out)]) == 0
    assert "Eq. 19 totals" in capsys.readouterr().out
    plots = json.loads((out / "summary.json").read_text())["plots"]
    assert sorted(plots) == sorted(str(p) for p in plot_bptt(out))
    all_covered(kept)


@pytest.mark.slow
def test_backres_against_plain_vgg(tmp_path, kept):
    from neurosnn.analysis.backres import plot_backres
    from neurosnn.jobs.backres import BackResConfig, run_backres

    cfg = BackResConfig(
        nets=("vgg7", "vgg2x4"),
        options={"width": 0.0625},
        epochs=1,
        timesteps=(8, 4),
        test_images=32,
        train_images=128,
    )
    out = tmp_path / "br"
    s = run_backres(cfg, load_dataset("synthetic"), out, progress=False)
    plain, tied = s["networks"]["vgg7"], s["networks"]["vgg2x4"]
    assert plain["logical_depth"] == tied["logical_depth"] == 7
    assert tied["unique_parameters"] < plain["unique_parameters"]
    assert list(tied["step_thresholds"]) == ["features.3.convs.0"]
    assert len(tied["step_thresholds"]["features.3.convs.0"]) == 4
    assert plain["step_thresholds"] == {} and list(plain["snn_accuracy"]) == ["4", "8"]
    run = read_run(out / "vgg2x4" / "convert.h5")
    assert run.timesteps == 8 and tied["snn_accuracy"]["4"] == pytest.approx(run.accuracy[3])
    assert [p.name for p in plot_backres(out)] == ["backres.png"]
    all_covered(kept)
    stamp = (out / "vgg7" / "checkpoint.pt").stat().st_mtime_ns
    run_backres(cfg, load_dataset("synthetic"), out, progress=False)  # trained networks reused
    assert (out / "vgg7" / "checkpoint.pt").stat().st_mtime_ns == stamp
    with pytest.raises(UserError, match="unknown networks"):  # before anything is trained
        run_backres(BackResConfig(nets=("vgg99",)), load_dataset("synthetic"), out)


@pytest.mark.slow
def test_agd_variants(tmp_path, kept):
    from neurosnn.analysis.agd import plot_agd
    from neurosnn.jobs.agd import AGDJobConfig, run_agd

    cfg = AGDJobConfig(
        options={"width": 0.125},
        timesteps=6,
        report_steps=(3, 6),
        epochs=1,
        train_images=128,
        test_images=32,
        hybrid_relu_layers=1,
    )
    out = tmp_path / "agd"
    s = run_agd(cfg, load_dataset("synthetic"), out, progress=False)
    assert set(s["variants"]) == {"softmax", "stochmax", "hybrid"}
    hybrid = s["variants"]["hybrid"]
    assert hybrid["config"]["relu_layers"] == 1 and len(hybrid["accuracy"]) == 6
    assert hybrid["accuracy_at"]["3"] == hybrid["accuracy"][2]
    assert hybrid["energy"]["spiking"][:2] == [False, False]  # ReLU layer and the one it feeds
    assert s["variants"]["softmax"]["energy"]["spiking"][:2] == [False, True]
    arrays, meta = read_arrays(out / "agd.h5")
    assert meta["timesteps"] == 6
    assert list(arrays["hybrid"]["accuracy"]) == pytest.approx(hybrid["accuracy"])
    assert [p.name for p in plot_agd(out)] == ["agd.png"]
    all_covered(kept)
    with pytest.raises(UserError, match="report_steps must lie in 1..6"):
        dataclasses.replace(cfg, report_steps=(9,))


@pytest.mark.slow
def test_sparsity_table(tmp_path, kept):
    from neurosnn.analysis.sparsity import plot_sparsity
    from neurosnn.jobs.sparsity import SparsityConfig, run_sparsity

    cfg = SparsityConfig(
        schedules=("constant", "alternating"),
        sigmas=(1.0, 1e-6),
        tolerance=0.05,
        timesteps=4,
        epochs=2,
        train_images=300,
        test_images=100,
    )
    out = tmp_path / "sp"
    s = run_sparsity(cfg, load_dataset("fashion-mnist", SUBSET), out)
    assert (s["train_images"], s["val_images"]) == (240, 60)  # 20% held out
    assert len(s["grid"]) == 4 and s["table"][0]["schedule"] == "none"
    heavy = next(r for r in s["grid"] if (r["schedule"], r["sigma0"]) == ("constant", 1.0))
    assert heavy["spikes_per_image"] < s["table"][0]["spikes_per_image"]
    for row in s["table"][1:]:  # a kept σ₀ stays within the tolerance on validation
        assert row["val_accuracy"] >= s["table"][0]["val_accuracy"] - 0.05
        assert row["spike_reduction"] == pytest.approx(
            1 - row["spikes_per_image"] / s["table"][0]["spikes_per_image"]
        )
    arrays, _ = read_arrays(out / "sparsity.h5")
    assert list(arrays["constant"]["sigma0"]) == [1e-6, 1.0]  # the grid in ascending order
    assert set(arrays) == {"constant", "alternating", "none"}
    assert [p.name for p in plot_sparsity(out)] == ["sparsity.png"]
    all_covered(kept)


@pytest.mark.slow
def test_stdp_against_random_features(tmp_path, kept):
    from neurosnn.analysis.stdp import plot_stdp
    from neurosnn.jobs.stdp import STDPJobConfig, run_stdp
    from neurosnn.learn.stdp import STDPConfig

    cfg = STDPJobConfig(
        nets=("stdp2", "stdp2x2"),
        stdp=STDPConfig(timesteps=8, updates=2),
        stdp_images=32,
        control_images=16,
        train_images=64,
        test_images=32,
        classifier_epochs=2,
    )
    out, data = tmp_path / "stdp", load_dataset("synthetic")
    s = run_stdp(cfg, data, out, progress=False)
    tied = s["networks"]["stdp2x2"]
    assert tied["logical_depth"] == 3 and tied["unique_convolutions"] == 2
    assert set(tied["stdp"]["final_rate"]) == {"conv1", "conv2@1", "conv2@2"}
    assert len(tied["stdp"]["thresholds"]["conv2"]) == 2
    for kind in ("stdp", "random"):
        for clf in ("fc", "convnn", "linear"):
            r = tied[kind]["classifiers"][clf]
            assert 0 <= r["accuracy"] <= 1 and r["energy"]["layers"][-1] == "classifier"
    for clf in ("fc", "convnn"):
        for control in ("pixels", "ann"):
            assert 0 <= tied[control]["classifiers"][clf]["accuracy"] <= 1
    assert s["networks"]["stdp2"]["pixels"] == tied["pixels"]  # trained once, cached
    assert {p.name for p in out.glob("pixels-*.json")} == {
        f"pixels-{clf}.json" for clf in ("fc", "convnn", "linear")
    }
    assert (out / "stdp2x2" / "ann-convnn.json").is_file()
    convergence = tied["stdp"]["convergence"]
    assert set(convergence) == {"conv1", "conv2"} and tied["random"]["convergence"] == {}
    assert all(c["first_change"] > 0 for c in convergence.values())
    arrays, meta = read_arrays(out / "stdp.h5")
    assert meta["stdp"]["updates"] == 2
    w = {k: arrays[f"stdp2.{k}"]["conv1.weight"] for k in ("stdp", "random")}
    assert w["stdp"].shape == (32, 1, 5, 5) and (w["stdp"] != w["random"]).any()
    assert len(arrays["stdp2x2.stdp"]["change.conv2"]) == 2  # one per batch of 16
    assert {p.name for p in plot_stdp(out)} == {"stdp.png", "stdp_kernels.png"}
    all_covered(kept)
    stamp = (out / "stdp2" / "stdp.pt").stat().st_mtime_ns
    again = run_stdp(cfg, data, out, progress=False)  # trained networks and features reused
    assert (out / "stdp2" / "stdp.pt").stat().st_mtime_ns == stamp
    assert again["networks"]["stdp2"]["stdp"] == s["networks"]["stdp2"]["stdp"]
    learns = dataclasses.replace(cfg, stdp=dataclasses.replace(cfg.stdp, decorrelation=0.1))
    with pytest.raises(UserError, match=r"stdp2/stdp\.pt was computed with other options "
                       r"\(stdp\.decorrelation 0\.0 → 0\.1\)"):  # fmt: skip
        run_stdp(learns, data, out, progress=False)
    longer = dataclasses.replace(cfg, nets=("stdp2",), classifier_epochs=3)  # only the heads
    with pytest.raises(UserError, match=r"pixels-fc\.json .*classifier_epochs 2 → 3"):
        run_stdp(longer, data, out, progress=False)
    old = json.loads((out / "pixels-fc.json").read_text())["result"]
    (out / "pixels-fc.json").write_text(json.dumps(old))  # an older run's file: reused unchecked
    reread = run_stdp(cfg, data, out, progress=False)["networks"]["stdp2"]["pixels"]
    assert reread["classifiers"]["fc"] == old
    marker = tmp_path / "ran"  # a crafted cache in the output folder must not run code
    torch.save({"state": CodePayload(marker)}, out / "stdp2" / "stdp.pt")
    with pytest.raises(UserError, match=r"cannot read .*stdp2/stdp\.pt"):
        run_stdp(cfg, data, out, progress=False)
    assert not marker.exists()


def test_cost_noise_spreads_by_hand():
    from neurosnn.jobs.noise import spreads

    # two candidates, three draws: candidate 1 is candidate 0 plus 2 on every draw
    costs = np.array([[10.0, 12.0], [14.0, 16.0], [12.0, 14.0]])
    s = spreads(costs)
    assert s["per_candidate_std"] == pytest.approx(2.0)
    assert s["paired_difference_std"] == 0.0  # on shared images the difference is exact
    assert s["unpaired_difference_std"] == pytest.approx(2.0 * np.sqrt(2))
    assert s["signal_std"] == pytest.approx(np.std([12.0, 14.0], ddof=1))
    assert s["best_on_one_draw_is_best_on_average"] == 1.0


@pytest.mark.slow
def test_cost_noise_of_the_search(tmp_path, capsys):
    from neurosnn.jobs.noise import NoiseConfig, run_cost_noise, spreads
    from neurosnn.jobs.search import EvalConfig

    ann = tmp_path / "ann"
    ckpt, data = checkpoint_and_data(ann, capsys)
    scfg = dataclasses.replace(PRESETS["quick"], images=32, timesteps=16)
    ecfg = EvalConfig(checkpoint=str(ann))
    out = tmp_path / "noise"
    r = run_cost_noise(scfg, ecfg, NoiseConfig(draws=3, candidates=4), ckpt, data, out)
    assert len(r["costs"]) == 3 and len(r["costs"][0]) == 4
    assert r["candidates"][0] == [99.7] * 4  # the uniform baseline first
    assert r["signal_std"] == pytest.approx(spreads(np.array(r["costs"]))["signal_std"])
    assert json.loads((out / "noise.json").read_text())["costs"] == r["costs"]
    more = run_cost_noise(scfg, ecfg, NoiseConfig(draws=2, candidates=8), ckpt, data, out)
    assert len(more["candidates"]) == 8 > scfg.population  # the population grows to hold them
    with pytest.raises(UserError, match="draws"):
        NoiseConfig(draws=1)
