import numpy as np
import pytest

from neurosnn.search.cost import (
    AccuracyDeficitCost,
    LatencyAccuracyCost,
    SpikePenalty,
    StepsToTargetCost,
    accuracy_gradient,
    training_cost,
)
from neurosnn.simulation.curve import (
    compare_latency,
    frontier,
    iso_accuracy_step,
    iso_time_gain,
    latency_report,
)


def test_step_curve_by_hand():
    acc = np.where(np.arange(1, 21) >= 10, 0.9, 0.0)  # jumps to 0.9 at t = 10
    cost = LatencyAccuracyCost(alpha=1.0, beta=10.0, gamma=500.0)
    # central differences spread the jump over t = 9 and t = 10, 0.45 each; argmax takes t = 9
    assert cost.terms(acc) == (9, pytest.approx(0.45), pytest.approx(0.9))
    assert cost(acc) == pytest.approx(1.0 * 9 + 10.0 * 0.55 + 500.0 * 0.1)


def test_linear_ramp_by_hand():
    T = 32  # binary fractions: every difference is exact, so the gradient has no float ties
    acc = np.arange(1, T + 1) / T
    np.testing.assert_allclose(accuracy_gradient(acc), np.full(T, 1 / T))
    cost = LatencyAccuracyCost(alpha=0.7, beta=60.0, gamma=200.0)
    assert cost(acc) == pytest.approx(0.7 * 1 + 60.0 * (1 - 1 / T) + 200.0 * 0.0)


def test_spike_penalty_adds_spikes_per_image_step():
    acc = np.array([0.0, 0.5, 1.0])
    base = LatencyAccuracyCost(1.0, 1.0, 1.0)
    counts = {"a": np.array([10, 20, 30]), "b": np.array([0, 0, 60])}
    penalised = SpikePenalty(base, weight=0.5, n_images=4)
    assert penalised(acc, counts) == pytest.approx(base(acc) + 0.5 * 120 / (4 * 3))


def test_latency_metrics():
    base = np.array([0.1, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9])
    opt = np.array([0.2, 0.6, 0.8, 0.9, 0.9, 0.91, 0.91])
    assert iso_accuracy_step(base, 0.8) == 5 and iso_accuracy_step(base, 0.95) is None
    cmp = compare_latency(base, opt)  # target: the baseline's final 0.9
    assert (cmp.baseline_step, cmp.optimized_step) == (7, 4)
    assert cmp.improvement == pytest.approx(1 - 4 / 7)
    assert compare_latency(base, opt, target=0.99).improvement is None
    assert iso_time_gain(base, opt, 3) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="step"):
        iso_time_gain(base, opt, 0)


def test_training_cost_reproduces_table_one():
    assert training_cost(3000, 25.9, 25, 50000) == pytest.approx(38.85)
    assert training_cost(3000, 7.8, 35, 50000) == pytest.approx(16.38)


def test_steps_to_target_by_hand():
    curve = np.array([0.0, 0.2, 0.6, 0.85, 0.9, 0.92])
    assert StepsToTargetCost(0.85)(curve) == 4.0
    assert StepsToTargetCost(0.0)(curve) == 1.0
    # never reached: T + 1 plus the points short at T (0.95 - 0.92 = 3 points)
    assert StepsToTargetCost(0.95)(curve) == pytest.approx(6 + 1 + 3.0)
    # a miss always costs more than the slowest hit
    assert StepsToTargetCost(0.921)(curve) > StepsToTargetCost(0.92)(curve) == 6.0


def test_frontier_and_report_by_hand():
    curve = np.array([0.1, 0.5, 0.4, 0.8, 0.9, 0.88])
    steps = frontier(curve, np.array([0.05, 0.45, 0.5, 0.85, 0.9, 0.95]))
    assert np.array_equal(steps[:5], [1, 2, 2, 5, 5]) and np.isnan(steps[5])
    # the frontier is each target's first step, whatever the curve does afterwards
    assert all(
        iso_accuracy_step(curve, t) == s for t, s in zip([0.45, 0.85], steps[[1, 3]], strict=True)
    )
    r = latency_report(curve, ann_accuracy=0.82, long_target=0.5, at=(2, 4, 64))
    assert r["steps_to_ann_minus_1pct"] == 5 and r["steps_to_ann_minus_2pct"] == 4
    assert r["steps_to_long_target"] == 2
    assert r["accuracy_at_2"] == 0.5 and r["accuracy_at_4"] == 0.8 and "accuracy_at_64" not in r
    assert r["accuracy_at_T"] == 0.88


def test_accuracy_deficit_by_hand():
    curve = np.array([0.0, 0.5, 0.8, 0.95, 0.9])
    # 0.9 - [0, .5, .8, .95, .9] clipped at 0: 0.9 + 0.4 + 0.1 + 0 + 0
    assert AccuracyDeficitCost(0.9)(curve) == pytest.approx(1.4)
    assert AccuracyDeficitCost(0.0)(curve) == 0.0
    # one image right one step sooner lowers it; the step count would not move
    sooner = curve.copy()
    sooner[1] = 0.51
    assert AccuracyDeficitCost(0.9)(sooner) < AccuracyDeficitCost(0.9)(curve)
    assert StepsToTargetCost(0.9)(sooner) == StepsToTargetCost(0.9)(curve)
