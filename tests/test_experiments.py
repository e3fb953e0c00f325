"""The command-line pipeline end to end on the synthetic dataset."""

import json
from importlib.util import find_spec
from pathlib import Path

import pytest

from neurosnn.analysis import inspect, plot
from neurosnn.config.bench import ENGINES
from neurosnn.experiments import bench_sim, convert, train_ann


def train_synthetic(out) -> int:
    """Train a tiny VGG5 on the synthetic set through the command line."""
    return train_ann.main(
        [
            "--dataset",
            "synthetic",
            "--net",
            "vgg5",
            "--option",
            "width=0.125",
            "--epochs",
            "4",
            "--batch-size",
            "32",
            "--lr",
            "0.05",
            "--out",
            str(out),
            "--no-progress",
        ]
    )


@pytest.mark.slow
def test_train_convert_inspect_plot(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_synthetic(run) == 0
    assert json.loads((run / "train.json").read_text())["test_accuracy"] > 0.8
    folder = run / "snn"
    h5 = folder / "convert.h5"
    assert (
        convert.main(
            [
                "--checkpoint",
                str(run),
                "--timesteps",
                "40",
                "--calib-images",
                "128",
                "--record-spikes",
                "4",
                "--test-images",
                "100",
                "--out",
                str(folder),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "ANN accuracy" in out and h5.is_file()
    from neurosnn.io.data import synthetic
    from neurosnn.io.record import read_run

    assert "simulating 100 test images for T=40" in (folder / "convert.log").read_text()
    recorded = read_run(h5)  # every recorded image traces back to its test-set index
    indices = recorded.metadata["test_indices"]
    assert len(indices) == 100 == len(set(indices))
    assert recorded.labels.tolist() == synthetic().test.labels[indices].tolist()
    # the resolved options rerun the same job into another folder, to the same figures
    config = (folder / "config.yaml").read_text()
    assert "command: convert" in config and "timesteps: 40" in config
    rerun_folder = tmp_path / "rerun"
    argv = ["--config", str(folder / "config.yaml"), "--out", str(rerun_folder)]
    assert convert.main(argv) == 0
    assert (read_run(rerun_folder / "convert.h5").accuracy == recorded.accuracy).all()
    capsys.readouterr()
    # the converted SNN is saved beside the record, and simulates again without the ANN
    again = tmp_path / "again"
    args = ["--snn", str(folder / "convert.snn.h5"), "--timesteps", "40", "--test-images", "100"]
    assert convert.main([*args, "--record-spikes", "4", "--out", str(again), "--no-progress"]) == 0
    assert "ANN accuracy" in capsys.readouterr().out
    rerun = read_run(again / "convert.h5")
    assert (rerun.accuracy == recorded.accuracy).all() and rerun.metadata["test_indices"] == indices
    assert rerun.metadata["snn"].endswith("convert.snn.h5")
    assert inspect.main([str(h5)]) == 0
    report = capsys.readouterr().out
    for name in ("features.0", "features.3", "classifier.1", "accuracy vs timestep", "EE "):
        assert name in report
    assert plot.main([str(h5), "--out", str(tmp_path / "plots")]) == 0
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["accuracy_vs_time.png", "layer_activity.png", "raster.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    for sample in ("-1", "4"):  # 4 images recorded: 0 to 3
        with pytest.raises(SystemExit, match=f"--sample must be an image .* 0 to 3, got {sample}"):
            plot.main([str(h5), "--out", str(tmp_path / "p2"), "--sample", sample])


def test_cli_errors(tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint"):
        convert.main(["--checkpoint", str(tmp_path), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="no run file"):
        inspect.main([str(tmp_path / "missing.h5")])
    with pytest.raises(SystemExit):
        train_ann.main(["--net", "vgg99", "--out", str(tmp_path)])


def test_bench_reports_agreement(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        bench_sim.main(
            [
                "--net",
                "vgg5",
                "--option",
                "width=0.125",
                "--input",
                "1,8,8",
                "--timesteps",
                "8",
                "--batch",
                "4",
                "--repeats",
                "1",
                "--population",
                "5",
                "--engines",
                ",".join(ENGINES),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    records = json.loads(out.read_text())
    # the engines named above, but SpikingJelly only where it is installed
    expected = set(ENGINES) - ({"spikingjelly"} if find_spec("spikingjelly") is None else set())
    assert {r["engine"] for r in records} == expected
    for engine in ("fast", "step", "fast+record"):
        fast = next(r for r in records if r["engine"] == engine)
        assert fast["agreement"] == 1.0 and fast["img_steps_per_s"] > 0
    assert set(fast) == {
        "engine",
        "device",
        "batch",
        "timesteps",
        "seconds",
        "img_steps_per_s",
        "peak_memory_bytes",
        "agreement",
        "tf32",
    }
    assert fast["tf32"] is False  # spike-exact float32 unless --allow-tf32
    # a generation simulates P candidates × the batch's images × T steps
    gen = next(r for r in records if r["engine"] == "generation")
    assert gen["img_steps_per_s"] == pytest.approx(5 * 4 * 8 / gen["seconds"])
    assert "5 candidates × 4 images × T = 8" in capsys.readouterr().out


def test_missing_fashion_mnist_falls_back_to_shipped_subset(tmp_path, monkeypatch, capsys):
    from neurosnn.experiments.common import load_data
    from neurosnn.io import data

    monkeypatch.setitem(data.DEFAULT_ROOTS, "fashion-mnist", str(tmp_path / "absent"))
    subset = load_data("fashion-mnist", None, allow_subset=True)
    assert (len(subset.train), len(subset.test)) == (4000, 1000)
    assert sorted(subset.train.labels.unique().tolist()) == list(range(10))
    assert "subset shipped" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="apt-get install dataset-fashion-mnist"):
        load_data("fashion-mnist", None, allow_subset=False)


@pytest.mark.slow
def test_neuroevolve_end_to_end(tmp_path, capsys):
    from neurosnn.experiments import neuroevolve

    ann = tmp_path / "ann"
    train_synthetic(ann)
    out = tmp_path / "ne"
    args = [
        "--preset",
        "quick",
        "--checkpoint",
        str(ann),
        "--out",
        str(out),
        "--images",
        "48",
        "--timesteps",
        "24",
        "--generations",
        "2",
        "--no-progress",
    ]
    assert neuroevolve.main([*args, "--tensorboard", str(tmp_path / "board")]) == 0
    printed = capsys.readouterr().out
    assert "iso-accuracy latency" in printed and "steps to ANN - 1%" in printed
    log = (out / "search.log").read_text()  # settings and progress, in the log and printed
    for line in ("search: P=6 G=2 E=48 T=24 objective eq11", "generation 2/2: best cost"):
        assert line in log and line in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["search"]["images"] == 48
    with pytest.raises(
        SystemExit, match=r"error: cannot resume: .*other settings \(images 48 → 40\)"
    ):
        neuroevolve.main([*args[:-1], "--images", "40"])  # a rerun into it resumes
    for key in (
        "latency_improvement",
        "baseline_final_accuracy",
        "optimized_final_accuracy",
        "thresholds_percentile",
        "nfe",
        "training_cost",
        "wall_seconds",
    ):
        assert key in summary
    assert summary["nfe"] == 2 * 6 and len(summary["thresholds_percentile"]) == 4
    from tests.test_tensorboard import read_scalars

    board = read_scalars(tmp_path / "board")  # one point per generation; the last is the best
    assert [step for step, _ in board["search/best_cost"]] == [1, 2]
    assert board["search/best_cost"][-1][1] == pytest.approx(summary["best_cost"], rel=1e-6)
    assert summary["training_cost"] == pytest.approx(48 * 2 * 6 / 512)  # Eq. 17
    assert 0 <= summary["optimized_final_accuracy"] <= 1
    for name in ("search.h5", "baseline.h5", "optimized.h5", "search_state.json"):
        assert (out / name).is_file()
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "accuracy_baseline_vs_optimized.png",
        "cost_per_generation.png",
        "frontier.png",
        "thresholds_vs_pca.png",
    ]
    from neurosnn.io.record import read_run

    base = read_run(out / "baseline.h5")
    assert base.timesteps == 3 * 24  # the long horizon: its accuracy is the third target
    assert summary["baseline_accuracy_at_long_horizon"] == pytest.approx(base.accuracy[-1])
    assert summary["baseline_final_accuracy"] == pytest.approx(base.accuracy[23])
    assert base.simulation["percentile_of"] == "all" and summary["subset"] == "fixed"
    assert set(summary["optimized_latency"]) >= {"steps_to_ann_minus_1pct", "accuracy_at_16"}
    # resuming a finished search evaluates nothing more and gives the same thresholds (0.2's
    # --resume is still accepted, with a note)
    assert neuroevolve.main(args + ["--resume"]) == 0
    assert "--resume is retired" in capsys.readouterr().err
    again = json.loads((out / "summary.json").read_text())
    assert again["evaluations"] == summary["evaluations"]
    assert again["thresholds_percentile"] == summary["thresholds_percentile"]
    with pytest.raises(SystemExit, match="population"):
        neuroevolve.main(args + ["--population", "3"])
    # the (theta, phi) search with the steps-to-target cost on the low-latency recipe
    recipe = ["--phi", "0.5", "--bias-onset", "input", "--search-phi"]
    recipe += ["--objective", "steps-to-target", "--long-horizon", "1"]
    args[args.index(str(out))] = str(tmp_path / "ne_phi")
    assert neuroevolve.main(args + recipe) == 0
    s = json.loads((tmp_path / "ne_phi" / "summary.json").read_text())
    assert len(s["phi"]) == 4 and all(0 <= v <= 0.95 for v in s["phi"])
    assert s["baseline_phi"] == 0.5 and s["objective"] == "steps-to-target"
    opt = read_run(tmp_path / "ne_phi" / "optimized.h5")
    assert opt.simulation["phi"] == pytest.approx(s["phi"])
    assert opt.simulation["bias_onset"] == "input"
    with pytest.raises(SystemExit):
        neuroevolve.main(args + ["--phi", "1.5"])


@pytest.mark.slow
def test_adversarial_end_to_end(tmp_path, capsys, kept):
    from neurosnn.experiments import adversarial
    from tests.test_plots import covered

    ann = tmp_path / "ann"
    train_synthetic(ann)
    out = tmp_path / "adv"
    args = [
        "--checkpoint",
        str(ann),
        "--out",
        str(out),
        "--epsilon",
        "16/255",
        "--report-epsilons",
        "4/255",
        "--population",
        "5",
        "--images",
        "48",
        "--timesteps",
        "16",
        "--generations",
        "1",
        "--test-images",
        "64",
        "--ans-images",
        "32",
        "--snn-attack-images",
        "16",
        "--no-progress",
    ]
    assert adversarial.main(args) == 0
    assert "iso-accuracy latency improvement" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["epsilon"] == pytest.approx(16 / 255)
    assert s["ann_adversarial_accuracy"] < s["ann_clean_accuracy"]
    assert s["snn_attack"]["images"] == 16
    assert 0 <= s["snn_attack"]["snn_baseline_under_snn_attack"] <= 1
    assert [r["epsilon"] for r in s["report_epsilons"]] == [pytest.approx(4 / 255)]
    for key in ("ann", "snn_baseline", "snn_optimized"):
        assert s["ans"][key]["layers"] == s["layers"]
        assert all(m > 0 for m in s["ans"][key]["mean"])
        assert all(0 < n <= 32 for n in s["ans"][key]["images"])
    for name in ("fgsm_train.h5", "fgsm_test.h5", "baseline.h5", "clean_optimized.h5"):
        assert (out / name).is_file()
    assert {"ans_vs_thresholds.png", "accuracy_clean_vs_adversarial.png"} <= {
        p.name for p in (out / "plots").iterdir()
    }
    assert kept  # the plots cover their data
    for fig in kept:
        covered(fig)
    # the attacked sets are cached with their ε: a second run reuses them, another ε does not
    stamp = (out / "fgsm_train.h5").stat().st_mtime_ns
    assert adversarial.main(args + ["--resume"]) == 0
    assert (out / "fgsm_train.h5").stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit, match="another attack"):
        adversarial.main(args + ["--resume", "--epsilon", "8/255"])
    with pytest.raises(SystemExit):
        adversarial.main(args + ["--epsilon", "300/255"])


@pytest.mark.slow
def test_backres_agd_sparsity_stdp_commands_print_and_plot(tmp_path, capsys):
    """The commands over the jobs (tested in test_workflows): exit 0, print their table,
    and add the plots to the summary the job wrote."""
    from neurosnn.experiments import agd, backres, sparsity, stdp
    from neurosnn.experiments.common import SUBSET_ROOT

    synthetic = ["--dataset", "synthetic"]
    runs = {
        "backres": (
            backres,
            synthetic
            + ["--nets", "vgg2x4", "--option", "width=0.0625", "--epochs", "1"]
            + ["--timesteps", "4", "--test-images", "16", "--train-images", "64", "--no-progress"],
            "thresholds per unrolling step",
        ),
        "agd": (
            agd,
            synthetic
            + ["--option", "width=0.125", "--timesteps", "4", "--report-steps", "2,4"]
            + ["--epochs", "1", "--train-images", "64", "--test-images", "16", "--no-progress"],
            "stochmax  T=2:",
        ),
        "sparsity": (
            sparsity,
            ["--data-root", str(SUBSET_ROOT), "--schedules", "constant", "--sigmas", "1e-6"]
            + ["--timesteps", "2", "--epochs", "1", "--train-images", "100", "--test-images", "20"],
            "C.E. + σ_constant",
        ),
        "stdp": (
            stdp,
            synthetic
            + ["--nets", "stdp2", "--stdp-images", "16", "--control-images", "8"]
            + ["--train-images", "32", "--test-images", "16", "--timesteps", "4", "--updates", "2"]
            + ["--classifier-epochs", "1", "--no-progress"],
            "STDP  random  pixels",
        ),
    }
    for name, (module, args, marker) in runs.items():
        out = tmp_path / name
        assert module.main(["--out", str(out), *args]) == 0
        printed = capsys.readouterr().out
        assert marker in printed and f"summary in {out / 'summary.json'}" in printed
        plots = json.loads((out / "summary.json").read_text())["plots"]
        assert plots and all((out / "plots").samefile(Path(p).parent) for p in plots)
    stdp_run = json.loads((tmp_path / "stdp" / "summary.json").read_text())["networks"]["stdp2"]
    for clf, r in stdp_run["pixels"]["classifiers"].items():  # the raw-pixel control's row
        assert 0 <= r["accuracy"] <= 1 and clf in stdp_run["stdp"]["classifiers"]


@pytest.mark.slow
def test_latency_end_to_end(tmp_path, capsys):
    from neurosnn.experiments import latency
    from neurosnn.io.record import read_run

    ann = tmp_path / "ann"
    train_synthetic(ann)
    out = tmp_path / "lat"
    args = ["--checkpoint", str(ann), "--out", str(out), "--timesteps", "20"]
    args += ["--recipes", "all,phi+onset,phi+onset+search", "--long-horizon", "2"]
    args += ["--test-images", "64", "--calib-images", "128", "--population", "5"]
    args += ["--generations", "1", "--images", "32", "--target-timesteps", "16"]
    assert latency.main(args) == 0
    printed = capsys.readouterr().out
    assert "| phi+onset+search |" in printed and "ANN−1%" in printed
    summary = json.loads((out / "latency.json").read_text())
    run = summary["checkpoints"]["ann"]
    rows = run["recipes"]
    assert list(rows) == ["all", "phi+onset", "phi+onset+search"]
    base = read_run(out / "ann" / "all.h5")
    assert base.timesteps == 40 and run["long_target"] == pytest.approx(base.accuracy[-1])
    assert rows["all"]["metrics"]["accuracy_at_T"] == pytest.approx(base.accuracy[19])
    from neurosnn.simulation.curve import iso_accuracy_step

    within = iso_accuracy_step(base.accuracy, run["ann_accuracy"] - 0.01)
    assert rows["all"]["metrics"]["steps_to_ann_minus_1pct_within_long_horizon"] == within
    gated = rows["phi+onset"]["metrics"]
    if gated["steps_to_ann_minus_1pct"] is not None:
        none = gated["steps_to_ann_minus_1pct_delay_none"]
        assert none == gated["steps_to_ann_minus_1pct"] - run["depth"]
    assert rows["phi+onset"]["phi"] == [0.5] * 4
    assert all(0 < z < 1 for z in run["zero_fraction"].values()) and len(run["zero_fraction"]) == 4
    assert len(rows["phi+onset+search"]["phi"]) == 4
    assert (out / "ann" / "phi+onset+search_search" / "search.h5").is_file()
    assert (out / "ann" / "plots" / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert "phi+onset: ANN-1% at step" in (out / "latency.log").read_text()
    assert "search generation 1/1: best cost" in (out / "latency.log").read_text()
    # a rerun keeps the finished records
    stamp = (out / "ann" / "phi+onset.h5").stat().st_mtime_ns
    assert latency.main(args) == 0
    assert (out / "ann" / "phi+onset.h5").stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit, match="recipe .turbo.: unknown token .turbo."):
        latency.main(args + ["--recipes", "all,turbo"])
    with pytest.raises(SystemExit, match="trained thresholds need a QCFS network"):
        latency.main(args + ["--recipes", "trained+phi+onset"])
    # another network into the same folder is refused, not mixed with these records
    other = tmp_path / "other" / "ann"
    assert (
        train_ann.main(
            ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125", "--epochs", "1"]
            + ["--batch-size", "32", "--seed", "5", "--out", str(other), "--no-progress"]
        )
        == 0
    )
    moved = args[:]
    moved[moved.index(str(ann))] = str(other)
    with pytest.raises(SystemExit, match="records another network"):
        latency.main(moved)


@pytest.mark.slow
def test_qcfs_network_trains_and_converts_at_its_lambdas(tmp_path, capsys):
    from neurosnn.experiments import latency

    ann = tmp_path / "qcfs"
    assert (
        train_ann.main(
            ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125"]
            + ["--option", "activation=qcfs", "--option", "levels=4", "--epochs", "4"]
            + ["--option", "qcfs_threshold=2"]
            + ["--batch-size", "32", "--out", str(ann), "--no-progress"]
        )
        == 0
    )
    assert json.loads((ann / "train.json").read_text())["test_accuracy"] > 0.8
    out = tmp_path / "lat"
    args = ["--checkpoint", str(ann), "--out", str(out), "--timesteps", "16"]
    args += ["--long-horizon", "1", "--test-images", "64", "--calib-images", "128"]
    args += ["--recipes", "all,trained+phi+onset,trained+phi+onset+search"]
    args += ["--population", "5", "--generations", "1", "--images", "32"]
    args += ["--target-timesteps", "12"]
    assert latency.main(args) == 0
    rows = json.loads((out / "latency.json").read_text())["checkpoints"]["qcfs"]["recipes"]
    from neurosnn.io.checkpoint import load_checkpoint

    state = load_checkpoint(ann).state_dict
    lambdas = [float(v) for k, v in state.items() if k.endswith("threshold")]
    assert rows["trained+phi+onset"]["thresholds"] == pytest.approx(lambdas)
    # the search scales each λ within [0.5, 1.5]
    searched = rows["trained+phi+onset+search"]["thresholds"]
    ratio = [t / l for t, l in zip(searched, lambdas, strict=True)]
    assert all(0.5 - 1e-6 <= r <= 1.5 + 1e-6 for r in ratio)


def test_the_demo_trains_as_long_on_the_shipped_subset_as_on_the_full_set():
    from neurosnn.config.demo import DemoConfig

    demo = DemoConfig()  # 40,000 presentations either way, unless --epochs says otherwise
    assert (demo.epochs_for(20000), demo.epochs_for(4000)) == (2, 10)
    assert DemoConfig(epochs=3).epochs_for(4000) == 3


@pytest.mark.slow
def test_quickstart_on_the_shipped_subset(tmp_path, capsys):
    from neurosnn.experiments import quickstart
    from neurosnn.io.record import read_run

    out = tmp_path / "qs"
    args = ["--out", str(out), "--data-root", "data/fashion-mnist-subset", "--epochs", "1"]
    args += ["--train-images", "400", "--test-images", "60", "--timesteps", "24"]
    args += ["--population", "5", "--generations", "1", "--images", "40", "--no-progress"]
    assert quickstart.main(args) == 0
    printed = capsys.readouterr().out
    assert "steps to ANN - 1%" in printed and "low-latency recipe" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["recipes"]) == ["all", "all+search", "phi+onset"]
    assert summary["phi"]["phi+onset"] == [0.5] * 8 and summary["phi"]["all"] == [0.0] * 8
    assert summary["thresholds"]["all+search"] != summary["thresholds"]["all"]
    from neurosnn.io.snnfile import load_snn

    kept, meta = load_snn(summary["snn_files"]["phi+onset"])  # the demo ends with a saved SNN
    assert kept.phi == [0.5] * 8 and kept.thresholds == summary["thresholds"]["phi+onset"]
    assert meta["source"]["simulation"]["bias_onset"] == "input"
    assert meta["source"]["dataset"] == "fashion-mnist"  # so convert --snn can find its data
    run = read_run(summary["records"]["phi+onset"])
    assert run.timesteps == 24 and run.n_images == 60
    assert run.simulation["bias_onset"] == "input" and run.simulation["percentile_of"] == "all"
    pngs = {p.name for p in (out / "plots").iterdir()}
    assert {"frontier.png", "accuracy.png", "raster.png", "layer_activity.png"} <= pngs
    # a second run reuses the network and the records; not one trained with another seed
    assert quickstart.main(args) == 0
    assert "reusing the trained ANN" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="trained with --seed 0, not 1: give another --out"):
        quickstart.main([*args, "--seed", "1"])
    assert "timesteps: 24" in (out / "config.yaml").read_text()  # what it ran, to rerun


@pytest.mark.slow
def test_cost_noise_command(tmp_path, capsys):
    from neurosnn.experiments import cost_noise

    ann = tmp_path / "ann"
    train_synthetic(ann)
    out = tmp_path / "noise"
    args = ["--checkpoint", str(ann), "--out", str(out), "--preset", "quick", "--images", "32"]
    args += ["--timesteps", "16", "--draws", "3", "--candidates", "4"]
    assert cost_noise.main(args) == 0
    assert "on the same" in capsys.readouterr().out
    noise = json.loads((out / "noise.json").read_text())
    assert len(noise["costs"]) == 3 and noise["command"].endswith("--candidates 4")
