"""The search scored with the delayed readout: every readout delay's curve from one grouped
run (each as simulate(readout_after=k)), a candidate's cost the least over k, and the latency
recipes whose search counts it."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from neurosnn.config.search import SearchConfig
from neurosnn.conversion import convert
from neurosnn.errors import UserError
from neurosnn.search.cost import StepsToTargetCost
from neurosnn.search.de import initial_population, run_search, unless_beaten
from neurosnn.search.evaluate import Evaluator
from neurosnn.simulation.run import simulate, simulate_groups
from tests.conftest import tiny_vgg
from tests.test_graph_engine import resnet_snn
from tests.test_module import chain_snn
from tests.test_readout import tiny_latency_run


@pytest.mark.parametrize("net", ["chain", "resnet"])
@pytest.mark.parametrize("block", [None, 3])
def test_each_readouts_grouped_curve_is_that_groups_delayed_simulation(net, block):
    snn, x = chain_snn() if net == "chain" else resnet_snn(phi=0.5)
    torch.manual_seed(2)
    y = torch.randint(0, snn.layer(snn.output_name).n, (len(x),))
    base = torch.tensor(snn.thresholds)
    thresholds = torch.stack([base, base * 0.6])
    g = torch.arange(len(x)) % 2
    readouts = (0, 2, 7)
    grouped = simulate_groups(
        snn, [(x, y, g)], thresholds, 16, delay="none", time_block=block, readouts=readouts
    )
    assert grouped.by_readout.shape == (3, 2, 16)
    assert torch.equal(grouped.correct, grouped.by_readout[0])
    for group in range(2):
        snn.set_thresholds(thresholds[group].tolist())
        for i, k in enumerate(readouts):
            alone = simulate(
                snn, [(x[g == group], y[g == group])], 16, delay="none", readout_after=k
            )
            assert torch.equal(grouped.by_readout[i, group], alone.correct)
    assert not torch.equal(grouped.by_readout[0], grouped.by_readout[2])  # k changes the curve


@pytest.mark.parametrize("readouts", [(), (0, 16), (-1,)])
def test_readouts_outside_the_run_are_refused(readouts):
    snn, x = chain_snn()
    g = torch.zeros(len(x), dtype=torch.long)
    with pytest.raises(UserError, match=r"readouts must be one or more integers in \[0, T\)"):
        simulate_groups(snn, [(x, g, g)], torch.ones(1, 4), 16, readouts=readouts)
    with pytest.raises(UserError, match=r"readout_delays must be in \[0, timesteps\)"):
        SearchConfig(timesteps=16, readout_delays=16)


@pytest.fixture
def answered(data):
    """A tiny VGG's SNN and a training split labelled with its ANN's answers (reachable)."""
    model = tiny_vgg().eval()
    x = torch.cat([b for b, _ in data.train.batches(256)])
    with torch.no_grad():
        answers = model(x).argmax(1)
    return convert(model, [x], (1, 8, 8), phi=0.5), dataclasses.replace(data.train, labels=answers)


SEARCH = SearchConfig(
    std=1.5,
    population=6,
    generations=2,
    images=64,
    timesteps=20,
    batch_size=64,
    seed=3,
    tol=0.0,
    search_phi=True,
    phi=0.5,
    bias_onset="input",
    objective="steps-to-target",
)


def test_a_candidate_costs_the_steps_of_its_best_readout_delay(answered):
    snn, train = answered
    cfg = dataclasses.replace(SEARCH, readout_delays=8)
    ev = Evaluator(snn, train, cfg, ann_accuracy=0.8)
    plain = Evaluator(snn, train, SEARCH, ann_accuracy=0.8)
    xs = list(initial_population(cfg, len(snn.if_names)))
    costs, undelayed = ev.score(xs), plain.score(xs)
    better = 0
    for x, cost, first in zip(xs, costs, undelayed, strict=True):
        ev.apply(x)
        per_k = [
            StepsToTargetCost(0.79)(
                simulate(
                    snn, ev.images_for(x).batches(64), 20, bias_onset="input", readout_after=k
                ).accuracy.numpy()
            )
            for k in range(9)
        ]
        assert cost == min(per_k) and first == per_k[0]
        better += cost < first
    assert better  # some candidate reaches the target sooner read after k > 0


def test_a_search_state_from_before_readout_delays_resumes_and_another_k_does_not(
    answered, tmp_path
):
    snn, train = answered
    state = tmp_path / "state.json"
    ev = Evaluator(snn, train, SEARCH, ann_accuracy=0.8)
    first = run_search(ev, state_path=state, progress=False)
    saved = json.loads(state.read_text())
    del saved["config"]["readout_delays"]  # written before the setting existed: k = 0
    state.write_text(json.dumps(saved))
    again = run_search(ev, state_path=state, resume=True, progress=False)
    assert again.best == first.best and again.generations == first.generations
    other = Evaluator(snn, train, dataclasses.replace(SEARCH, readout_delays=3), ann_accuracy=0.8)
    with pytest.raises(ValueError, match="readout_delays 0 → 3"):
        run_search(other, state_path=state, resume=True, progress=False)


def test_search_k_recipes_share_a_search_scored_over_the_shifted_delays(tmp_path):
    from neurosnn.io.record import read_search
    from neurosnn.io.snnfile import load_snn

    names = (
        "phi+onset+channelwise+search-k+delayed",
        "phi+onset+channelwise+search-k+advanced+delayed",
    )
    report = tiny_latency_run(tmp_path, names)
    assert [p.name for p in tmp_path.glob("*_search")] == [f"{names[0]}_search"]
    record = read_search(tmp_path / f"{names[0]}_search" / "search.h5")
    # the readout of a chain's delayed run: up to T/2 of the undelayed one, shifted by the depth
    assert record["config"]["search"]["readout_delays"] == 16 // 2 + report.depth
    searched, calibrated = (load_snn(tmp_path / f"{n}.snn.h5")[0] for n in names)
    assert searched.thresholds == calibrated.thresholds and searched.phi == calibrated.phi
    assert calibrated.offset_layers and not searched.offset_layers
    for r in report.results:
        assert r.metrics["readout_after_delay_layer"] == (
            r.metrics["readout_after_delay_none"] + report.depth
        )


def test_a_search_of_the_delayed_readout_needs_the_delayed_readout():
    from neurosnn.jobs.latency import RECIPES, Recipe

    with pytest.raises(UserError, match="needs delayed"):
        Recipe(search="theta-phi-delayed")
    recipe = RECIPES["phi+onset+channelwise+search-k+advanced+delayed"]
    assert recipe.before_search_ends() == RECIPES["phi+onset+channelwise+search-k+delayed"]


def test_a_latency_folder_from_before_a_new_setting_keeps_its_runs(tmp_path):
    from neurosnn.jobs.latency import LatencyConfig, same_settings

    same_settings(tmp_path, LatencyConfig())
    saved = json.loads((tmp_path / "settings.json").read_text())
    del saved["search"]["readout_delays"]  # written before the setting existed
    (tmp_path / "settings.json").write_text(json.dumps(saved))
    same_settings(tmp_path, LatencyConfig())  # its default: the same settings
    with pytest.raises(UserError, match="other settings"):
        same_settings(tmp_path, LatencyConfig(timesteps=7))


def test_a_search_that_keeps_its_start_returns_the_recipe_unless_it_beats_it(tmp_path):
    from neurosnn.io.record import read_run, read_search
    from neurosnn.io.snnfile import load_snn

    names = ("phi+onset+channelwise", "phi+onset+channelwise+search")
    tiny_latency_run(tmp_path, names, search_keep_start=True)
    metrics = read_search(tmp_path / f"{names[1]}_search" / "search.h5")["metrics"]
    plain, searched = (load_snn(tmp_path / f"{n}.snn.h5")[0] for n in names)
    assert metrics["kept_start"] == (metrics["best_cost"] == metrics["start_cost"])
    if metrics["kept_start"]:  # the recipe as it was: its thresholds, φ and spikes
        assert searched.thresholds == plain.thresholds and searched.phi == plain.phi
        runs = [read_run(tmp_path / f"{n}.h5") for n in names]
        assert np.array_equal(runs[0].accuracy, runs[1].accuracy)
    else:
        assert metrics["best_cost"] < metrics["start_cost"]
        assert searched.thresholds != plain.thresholds or searched.phi != plain.phi


def test_search_k_without_the_layer_delay_scores_and_reports_the_undelayed_count(tmp_path):
    # the search scored as the field counts (a graph's delayed run is no shift of its
    # undelayed one): the search runs without the layer delay, its readout delays reach T/2
    # with no shift, and the recipe's count is the undelayed run's (none with the delay)
    from neurosnn.io.record import read_run, read_search

    name = "phi+channelwise+search-k+delayed"
    report = tiny_latency_run(tmp_path, (name,))
    search = read_search(tmp_path / f"{name}_search" / "search.h5")["config"]["search"]
    assert search["delay"] == "none" and search["bias_onset"] == "always"
    assert search["readout_delays"] == 16 // 2
    (result,) = report.results
    m = result.metrics
    assert m["steps_to_ann_minus_1pct_delay_none"] == m["steps_to_ann_minus_1pct"]
    assert "readout_after_delay_layer" not in m
    run = read_run(tmp_path / f"{name}.h5")
    assert run.simulation["delay"] == "none"
    assert run.config.get("readout_after", 0) == m["readout_after_delay_none"]
    assert not (tmp_path / f"{name}.delay-none.h5").exists()  # the run is the undelayed one


def test_recipes_sharing_a_search_score_its_start_once(tmp_path, monkeypatch):
    from neurosnn.jobs import prepare

    names = (
        "phi+onset+channelwise+search+delayed",
        "phi+onset+channelwise+search+advanced+delayed",
    )
    assert len({prepare.searched_recipe(n) for n in names}) == 1
    given, costs = [], []

    def recorded(evaluator, result, start_cost=None):
        given.append(start_cost)
        out = unless_beaten(evaluator, result, start_cost)
        costs.append(out.start_cost)
        return out

    monkeypatch.setattr(prepare, "unless_beaten", recorded)
    report = tiny_latency_run(tmp_path, names, search_keep_start=True)
    assert given == [None, costs[0]] and costs[1] == costs[0]  # the second read it back
    assert report.results[0].phi == report.results[1].phi  # the same search result in both
