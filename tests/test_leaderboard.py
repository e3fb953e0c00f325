"""The leaderboard's figures are those of the latency runs it reads: the undelayed accuracy at
T (a chain's delayed run shifted by its depth where the onset holds), the steps both ways."""

import json

import numpy as np
import pytest
import torch

from neurosnn.analysis import leaderboard
from neurosnn.io.record import read_run


@pytest.mark.slow
def test_a_chain_over_two_seeds(tmp_path):
    from neurosnn.experiments import latency, train_ann
    from tests.test_experiments import train_synthetic

    train_synthetic(tmp_path / "s0")
    args = ["--dataset", "synthetic", "--net", "vgg5", "--option", "width=0.125"]
    args += ["--epochs", "4", "--batch-size", "32", "--lr", "0.05", "--seed", "1"]
    assert train_ann.main([*args, "--out", str(tmp_path / "s1"), "--no-progress"]) == 0
    lat = tmp_path / "lat"
    run = ["--checkpoint", str(tmp_path / "s0"), "--checkpoint", str(tmp_path / "s1")]
    run += ["--recipes", "all,phi+onset", "--timesteps", "80", "--long-horizon", "1"]
    run += ["--test-images", "32", "--calib-images", "64", "--out", str(lat), "--no-progress"]
    assert latency.main(run) == 0
    page = tmp_path / "board.md"
    assert leaderboard.main([str(lat), "--out", str(page)]) == 0
    text = page.read_text()
    assert "## vgg5 on synthetic, ReLU, 2 seeds (`lat`)" in text
    assert text.index("## Summary") < text.index("## vgg5 on synthetic")
    assert "neurosnn leaderboard " in text  # the command that made it
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()}
    assert "| phi+onset [calib_images=64] |" in text  # a setting other than the default's
    rows = {k.removesuffix(" [calib_images=64]"): v for k, v in rows.items()}
    summary = json.loads((lat / "latency.json").read_text())["checkpoints"]
    depth = summary["s0"]["depth"]
    shifted = [read_run(lat / s / "phi+onset.h5").accuracy[depth + 4 - 1] for s in ("s0", "s1")]
    assert rows["phi+onset"][3].startswith(f"{100 * float(np.mean(shifted)):.1f}")  # t=4
    assert rows["all"][3] == rows["all"][8] == "–"  # no onset: no undelayed run of a chain
    steps = [summary[s]["recipes"]["phi+onset"]["metrics"] for s in ("s0", "s1")]
    layer = [m["steps_to_ann_minus_1pct"] for m in steps]
    if None not in layer:
        cell = rows["phi+onset"][9]  # ANN−1% with the layer delay
        assert cell.startswith(f"{np.mean(layer):.1f}".removesuffix(".0"))
    with pytest.raises(SystemExit, match="holds no latency.json"):
        leaderboard.main([str(tmp_path)])


def test_a_graphs_undelayed_accuracy_is_its_run_without_the_delay(tmp_path):
    from neurosnn.io.data import synthetic
    from neurosnn.jobs.latency import LatencyConfig, measure_latency
    from tests.test_graph_engine import TinyResNet, init

    data = synthetic(n_train=128, n_test=32, num_classes=5, in_channels=2, input_size=8, seed=0)
    torch.manual_seed(0)
    cfg = LatencyConfig(
        recipes=("all",), timesteps=12, long_horizon=1, test_images=32, calib_images=128
    )
    report = measure_latency(init(TinyResNet()), data, cfg, tmp_path, progress=False)
    run = read_run(tmp_path / "all.h5")
    got = leaderboard.undelayed_accuracy(tmp_path, "all", report.depth, run)
    assert np.array_equal(got, read_run(tmp_path / "all.delay-none.h5").accuracy)


def test_folders_of_the_same_checkpoints_and_test_images_make_one_table():
    from neurosnn.analysis.leaderboard import Section, merged, table

    def row(steps):
        return {
            **{f"t={t}": 0.5 for t in leaderboard.STEPS},
            "delay none": steps,
            "layer delay": steps + 9,
            "spikes/image": 10.0,
            "T": 64,
        }

    def section(folder, anns, rows):
        return Section(folder, "vgg15", "ReLU", ["s0", "s1"][: len(anns)], anns, rows)

    first = section("a", [0.93, 0.94], {"all": [row(40), row(42)]})
    again = section("b", [0.93, 0.94], {"all": [row(1), row(1)], "x": [row(5), row(7)]})
    other_images = section("c", [0.92, 0.94], {"y": [row(3), row(3)]})
    one_seed = section("d", [0.93], {"z": [row(3)]})
    got = merged([first, again, other_images, one_seed])
    assert [(s.folder, list(s.rows)) for s, _ in got] == [
        ("a", ["all", "x"]),
        ("c", ["y"]),
        ("d", ["z"]),
    ]
    section, source = got[0]
    assert source == {"all": "a", "x": "b"}  # a recipe in both folders: the first folder's
    lines = table(section.rows, source).splitlines()
    assert lines[0].endswith("| folder |")
    assert lines[2].startswith("| all |") and lines[2].endswith(
        "| 41 (40–42) | 50 (49–51) | 10 | `a` |"
    )
    assert lines[3].endswith("| 6 (5–7) | 15 (14–16) | 10 | `b` |")


def test_the_summary_names_each_networks_best_recipe_counted_each_way():
    from neurosnn.analysis.leaderboard import Section, heading, summary

    def row(none, layer):
        return {"delay none": none, "layer delay": layer, "T": 128}

    rows = {
        "all": [row(None, 117), row(None, 120)],  # no undelayed run of a chain: "–"
        "phi+onset": [row(14, 23), row(16, 25)],
        "phi+onset+delayed": [row(10, 30), row(None, 40)],  # misses on one seed: never best
        "trained+phi": [row("–", 21), row("–", 21)],
    }
    rows["all"][0]["delay none"] = rows["all"][1]["delay none"] = "–"
    relu = Section("front_vgg9", "vgg9 on fashion-mnist", "ReLU", ["s0", "s1"], [0.93, 0.94], rows)
    nq = Section("front_nq", "vgg9 on fashion-mnist", "NQ L=4", ["s0"], [0.92], {})
    assert heading(relu) != heading(nq)
    lines = summary([(relu, {}), (nq, {})]).splitlines()
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells == [
        "vgg9 on fashion-mnist, ReLU, 2 seeds (`front_vgg9`)",
        "93.50%",
        "– / 118.5 (117–120)",
        "–",
        "15 (14–16): `phi+onset`",
        "21: `trained+phi`",
    ]
    assert lines[3].split("|")[5:7] == [" – ", " – "]  # no recipe ran: no best


def test_a_folder_run_with_other_settings_names_them_beside_its_recipes():
    from neurosnn.analysis.leaderboard import changed
    from neurosnn.io.output import as_saved
    from neurosnn.jobs.latency import LatencyConfig

    config = as_saved(LatencyConfig())
    assert changed(config) == []
    old = {k: v for k, v in config.items() if k != "search_keep_start"}  # from before it
    assert changed(old) == []
    config["search"]["population"], config["search_keep_start"] = 20, True
    config["timesteps"], config["recipes"] = 64, ["all"]
    assert changed(config) == ["search.population=20", "search_keep_start"]  # not T
