import dataclasses
import json

import numpy as np
import pytest
import torch

from neurosnn.config.search import PRESETS, SearchConfig
from neurosnn.conversion import convert
from neurosnn.search.de import initial_population, run_search, start_candidate, unless_beaten
from neurosnn.search.evaluate import (
    Evaluator,
    candidate_seed,
    candidate_thresholds,
    cost_noise,
    grouped_batches,
    process_pool_map,
    vectorised_map,
)
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg

CFG = SearchConfig(
    1,
    10,
    50,
    99.7,
    1.5,  # a wide population (bounds 84.7..100): the tiny net's costs differ
    population=6,
    generations=4,
    images=64,
    timesteps=20,
    batch_size=64,
    seed=3,
    tol=0.0,  # all G generations: on one fixed subset the tiny net's costs are close at once
)


@pytest.fixture
def evaluator(data):
    snn = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    return Evaluator(snn, data.train, CFG)


def test_initial_population_is_normal_around_th_and_clipped():
    cfg = SearchConfig(population=2000, std=0.15)
    pop = initial_population(cfg, 3)
    lo, hi = cfg.bounds
    assert pop.shape == (2000, 3) and pop.min() >= lo and pop.max() <= 100.0
    assert abs(np.median(pop) - 99.7) < 0.02
    assert np.mean(pop == 100.0) > 0.01  # the upper tail is clipped at 100


def test_subset_seed_depends_on_candidate_only():
    x = np.array([99.1, 99.5])
    assert candidate_seed(x, 0) == candidate_seed(x.copy(), 0)
    assert candidate_seed(x, 0) != candidate_seed(x + 1e-9, 0)
    assert candidate_seed(x, 0) != candidate_seed(x, 1)


def test_same_seed_same_thresholds(evaluator, data):
    a = run_search(evaluator, progress=False)
    snn2 = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    b = run_search(Evaluator(snn2, data.train, CFG), progress=False)
    assert a.best == b.best and a.best_thresholds == b.best_thresholds
    assert [g.costs for g in a.history] == [g.costs for g in b.history]


def test_search_improves_on_the_initial_population(evaluator):
    init = initial_population(CFG, len(evaluator.snn.if_names))
    initial_best = min(evaluator(x) for x in init)
    result = run_search(evaluator, progress=False)
    assert result.best_cost < initial_best
    bests = [g.best_cost for g in result.history]
    assert bests == sorted(bests, reverse=True)  # the best never gets worse
    lo, hi = CFG.bounds
    assert all(lo <= v <= hi for v in result.best)
    assert evaluator.snn.percentiles == pytest.approx(result.best)  # left at the best


def test_interrupted_and_resumed_equals_uninterrupted(evaluator, data, tmp_path):
    full = run_search(evaluator, progress=False)
    state = tmp_path / "state.json"

    def die_after_two(gen):
        if gen.generation == 2:
            raise KeyboardInterrupt  # like kill -9 right after the generation was saved

    snn2 = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    with pytest.raises(KeyboardInterrupt):
        run_search(
            Evaluator(snn2, data.train, CFG),
            state_path=state,
            progress=False,
            on_generation=die_after_two,
        )
    assert len(json.loads(state.read_text())["result"]["history"]) == 2
    snn3 = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    resumed = run_search(
        Evaluator(snn3, data.train, CFG), state_path=state, resume=True, progress=False
    )
    assert resumed.best == full.best and resumed.best_thresholds == full.best_thresholds
    assert [g.costs for g in resumed.history] == [g.costs for g in full.history]
    assert resumed.evaluations == full.evaluations


def test_vectorised_generation_equals_serial_scoring(evaluator):
    candidates = list(initial_population(CFG, len(evaluator.snn.if_names)))
    # batches of 64 over 6 candidates × 64 images: every batch holds one candidate here, so
    # shrink the batch to make batches span candidates
    evaluator.cfg = SearchConfig(**{**CFG.__dict__, "batch_size": 40})
    vectorised = vectorised_map(evaluator)(None, candidates)
    serial = [evaluator(x) for x in candidates]
    assert vectorised == serial  # exactly: a candidate's curve ignores its batch neighbours
    assert len(set(serial)) > 1


def test_vectorised_search_equals_serial_search(evaluator, data):
    serial = run_search(evaluator, progress=False)
    snn2 = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    other = Evaluator(snn2, data.train, CFG)
    vectorised = run_search(other, vectorised_map(other), progress=False)
    assert vectorised.best == serial.best
    assert [g.costs for g in vectorised.history] == [g.costs for g in serial.history]


def test_grouped_batches_keep_order_and_groups(data):
    splits = [data.train.random_subset(n, seed) for n, seed in ((5, 0), (12, 1), (3, 2))]
    batches = list(grouped_batches(splits, 8))
    assert [len(y) for _, y, _ in batches] == [8, 8, 4]
    groups = torch.cat([g for _, _, g in batches])
    assert groups.tolist() == [0] * 5 + [1] * 12 + [2] * 3
    labels = torch.cat([y for _, y, _ in batches])
    assert torch.equal(labels, torch.cat([s.labels for s in splits]))
    images = torch.cat([x for x, _, _ in batches])
    assert torch.equal(images[5:17], next(splits[1].batches(100))[0])


def test_resume_refuses_another_config(evaluator, tmp_path):
    state = tmp_path / "state.json"
    run_search(evaluator, state_path=state, progress=False)
    other = Evaluator(evaluator.snn, evaluator.train, SearchConfig(population=6, images=8))
    with pytest.raises(ValueError, match=r"other settings \(.*images 64 → 8"):
        run_search(other, state_path=state, resume=True, progress=False)


def _tolerance(cfg):
    """Cost change from float rounding in CPU convolutions across processes: a spike at an
    exact threshold tie may flip, moving a couple of images or J by a step."""
    return cfg.alpha * 2 + cfg.beta * 2 / cfg.images + cfg.gamma * 2 / cfg.images


def _check_pool(evaluator, map_fn):
    candidates = initial_population(CFG, len(evaluator.snn.if_names))
    pooled = list(map_fn(None, list(candidates)))
    serial = [evaluator(x) for x in candidates]
    assert np.allclose(pooled, serial, rtol=0, atol=_tolerance(CFG))
    result = run_search(evaluator, map_fn=map_fn, progress=False)
    assert result.generations == CFG.generations
    assert result.evaluations == CFG.population * (CFG.generations + 1)
    lo, hi = CFG.bounds
    assert all(lo <= v <= hi for v in result.best)


def test_process_pool_scores_like_serial(evaluator):
    map_fn, pool = process_pool_map(evaluator, workers=2)
    try:
        _check_pool(evaluator, map_fn)
    finally:
        pool.terminate()


def test_process_pool_workers_take_the_tf32_switches_over(evaluator):
    # a spawned worker starts with PyTorch's defaults (TF32 on for cuDNN); a search whose
    # command switched it off must not score its candidates with it on
    from neurosnn.simulation.tf32 import tf32, tf32_switches

    with tf32(False):
        map_fn, pool = process_pool_map(evaluator, workers=1)
        try:
            assert pool.apply(tf32_switches) == (False, False)
        finally:
            pool.terminate()


@pytest.mark.slow
def test_ray_local_cluster_scores_like_serial(evaluator):
    """Two actors, each half of a (fake) GPU: Ray accounts the whole GPU to them while they
    live, and their vectorised chunks give the serial costs."""
    ray = pytest.importorskip("ray")
    from neurosnn.search.evaluate import ray_pool_map

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    map_fn, pool = ray_pool_map(evaluator, workers=2, gpus=0.5)
    try:
        _check_pool(evaluator, map_fn)
        assert ray.available_resources().get("GPU", 0) == 0  # both halves taken
        assert ray.available_resources().get("CPU", 0) == 0  # one CPU each (2 / 2 workers)
    finally:
        pool.terminate()
        ray.shutdown()


def test_pickled_snn_retunes_like_the_original(evaluator):
    import pickle

    snn = evaluator.snn
    x = torch.rand(4, *snn.layer("features.0").shape).round()
    conn = snn.connection("features.4")
    copy = pickle.loads(pickle.dumps(snn))
    snn.set_thresholds([0.5, 0.6, 0.7, 0.8])
    copy.set_thresholds([0.5, 0.6, 0.7, 0.8])
    assert torch.equal(copy.connection("features.4").compute(x), conn.compute(x))


def test_scale_parameterisation_multiplies_baseline(evaluator):
    cfg = SearchConfig(
        population=6,
        generations=1,
        images=32,
        timesteps=10,
        parameterisation="scale",
        batch_size=64,
    )
    ev = Evaluator(evaluator.snn, evaluator.train, cfg)
    x = np.array([0.5, 1.0, 1.5, 1.0])
    before = ev.snn.thresholds
    accuracy, counts = ev.curve(x)
    assert ev.snn.thresholds == before  # scoring leaves the SNN alone
    expected = [b * s for b, s in zip(ev.base_thresholds, x, strict=True)]
    assert candidate_thresholds(ev.snn, x, "scale", ev.base_thresholds) == expected
    ev.snn.set_thresholds(expected)
    alone = simulate(ev.snn, ev.images_for(x).batches(64), 10)
    assert np.array_equal(accuracy, alone.accuracy.numpy())
    assert all(np.array_equal(counts[n], alone.spike_counts[n].numpy()) for n in counts)


def test_fixed_subset_is_one_draw_for_every_candidate_and_generation(evaluator):
    xs = list(initial_population(CFG, len(evaluator.snn.if_names)))
    drawn = evaluator.train.random_subset(CFG.images, CFG.seed)
    for x in xs:
        assert torch.equal(evaluator.images_for(x).labels, drawn.labels)
    result = run_search(evaluator, progress=False)
    # the best's cost is its curve on those same images, whatever generation found it
    evaluator.snn.set_percentiles(result.best)
    alone = simulate(evaluator.snn, drawn.batches(64), CFG.timesteps)
    assert evaluator.cost(alone.accuracy.numpy()) == result.best_cost


def test_per_candidate_subsets_differ_by_candidate(evaluator):
    cfg = SearchConfig(**{**CFG.__dict__, "subset": "per-candidate"})
    ev = Evaluator(evaluator.snn, evaluator.train, cfg)
    a, b = np.array([99.0] * 4), np.array([99.5] * 4)
    assert torch.equal(ev.images_for(a).labels, ev.images_for(a.copy()).labels)
    assert not torch.equal(ev.images_for(a).labels, ev.images_for(b).labels)
    subset = ev.train.random_subset(cfg.images, candidate_seed(a, cfg.seed))
    assert torch.equal(ev.images_for(a).labels, subset.labels)


def test_searching_phi_scores_each_candidates_phi(evaluator):
    cfg = SearchConfig(**{**CFG.__dict__, "search_phi": True, "phi": 0.5, "bias_onset": "input"})
    ev = Evaluator(evaluator.snn, evaluator.train, cfg)
    pop = initial_population(cfg, 4)
    assert pop.shape == (6, 8) and pop[:, 4:].min() >= 0 and pop[:, 4:].max() <= 0.95
    assert abs(np.median(pop[:, 4:]) - 0.5) < 0.2
    x = np.array([99.5, 99.0, 99.9, 99.7, 0.5, 0.1, 0.9, 0.3])
    accuracy, counts = ev.curve(x)
    ev.apply(x)
    assert ev.snn.phi == pytest.approx([0.5, 0.1, 0.9, 0.3])
    assert ev.snn.percentiles == pytest.approx([99.5, 99.0, 99.9, 99.7])
    alone = simulate(ev.snn, ev.images_for(x).batches(64), CFG.timesteps, bias_onset="input")
    assert np.array_equal(accuracy, alone.accuracy.numpy())
    assert all(np.array_equal(counts[n], alone.spike_counts[n].numpy()) for n in counts)
    result = run_search(ev, progress=False)
    assert len(result.best) == 8 and result.best_phi == pytest.approx(result.best[4:])


def test_search_config_checks_the_snn_and_its_values(evaluator):
    with pytest.raises(ValueError, match="percentile_of"):
        Evaluator(evaluator.snn, evaluator.train, SearchConfig(percentile_of="positive"))
    with pytest.raises(ValueError, match="channelwise"):
        Evaluator(evaluator.snn, evaluator.train, SearchConfig(channelwise=True))
    with pytest.raises(ValueError, match="needs the ANN's accuracy"):
        Evaluator(evaluator.snn, evaluator.train, SearchConfig(objective="steps-to-target"))
    for bad, match in (
        ({"subset": "fresh"}, "subset must be one of"),
        ({"phi": 1.0}, r"phi must be in \[0, 1\)"),
        ({"objective": "fast"}, "objective must be one of"),
        ({"bias_onset": "late"}, "bias_onset must be one of"),
    ):
        with pytest.raises(ValueError, match=match):
            SearchConfig(**bad)


def test_cost_noise_scores_every_candidate_on_each_shared_draw(evaluator):
    xs = [np.full(4, 99.7), np.full(4, 98.0)]
    costs = cost_noise(evaluator, xs, 3)
    assert costs.shape == (3, 2)
    for r in range(3):
        subset = evaluator.train.random_subset(CFG.images, CFG.seed + r)
        for k, x in enumerate(xs):
            evaluator.snn.set_percentiles(x.tolist())
            alone = simulate(evaluator.snn, subset.batches(64), CFG.timesteps)
            assert costs[r, k] == evaluator.cost(alone.accuracy.numpy())
    assert len(set(costs[:, 0])) > 1  # the draws differ


def test_presets_follow_table_one():
    c10 = PRESETS["cifar10"]
    assert (c10.alpha, c10.beta, c10.gamma, c10.std, c10.population) == (1, 10, 500, 0.15, 25)
    assert PRESETS["imagenet"].initial_percentile == 99.8
    assert PRESETS["adversarial-cifar100"].std == 0.25
    with pytest.raises(ValueError, match="population"):
        SearchConfig(population=4)
    with pytest.raises(ValueError, match="bounds"):
        SearchConfig(lower=99.0, upper=101.0)


def test_resume_of_a_converged_search_runs_no_more_generations(evaluator, tmp_path):
    cfg = SearchConfig(**{**CFG.__dict__, "tol": 1e9})  # converged after the first generation
    state = tmp_path / "state.json"
    first = run_search(Evaluator(evaluator.snn, evaluator.train, cfg), state_path=state)
    assert first.converged and first.generations == 1
    again = run_search(
        Evaluator(evaluator.snn, evaluator.train, cfg), state_path=state, resume=True
    )
    assert again.generations == 1 and again.best == first.best


def test_resume_refuses_another_network(evaluator, data, tmp_path):
    state = tmp_path / "state.json"
    run_search(evaluator, state_path=state, progress=False)
    other = convert(tiny_vgg(seed=1), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    with pytest.raises(ValueError, match="another network"):
        run_search(Evaluator(other, data.train, CFG), state_path=state, resume=True)
    same = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    assert same.fingerprint() == evaluator.snn.fingerprint() != other.fingerprint()


def test_a_state_from_before_fingerprints_still_resumes(evaluator, tmp_path, caplog):
    state = tmp_path / "state.json"
    first = run_search(evaluator, state_path=state, progress=False)
    saved = json.loads(state.read_text())
    del saved["snn"]
    state.write_text(json.dumps(saved))
    again = run_search(evaluator, state_path=state, resume=True, progress=False)
    assert again.best == first.best and "does not record its network" in caplog.text


def test_the_start_is_returned_unless_the_search_beats_it(evaluator):
    from neurosnn.search.de import SearchResult

    snn = evaluator.snn
    start = start_candidate(CFG, len(snn.if_names))
    assert start.tolist() == [99.7] * len(snn.if_names)
    phi_cfg = SearchConfig(search_phi=True, phi=0.5, parameterisation="scale")
    assert start_candidate(phi_cfg, 2).tolist() == [1.0, 1.0, 0.5, 0.5]
    other = [99.0] * len(snn.if_names)
    found = SearchResult(list(snn.if_names), "percentile", other, [], best_cost=-1.0)
    beaten = unless_beaten(evaluator, found)  # a best below any cost: the search's
    assert not beaten.kept_start and beaten.best == other and beaten.best_cost == -1.0
    assert beaten.start_cost == evaluator(start) and snn.percentiles == pytest.approx(other)
    tied = dataclasses.replace(found, best_cost=beaten.start_cost)
    kept = unless_beaten(evaluator, tied)  # a best that only ties the start: the start
    assert kept.kept_start and kept.best == start.tolist()
    assert kept.best_cost == kept.start_cost == beaten.start_cost
    assert snn.percentiles == pytest.approx(start) and kept.best_thresholds == snn.thresholds
