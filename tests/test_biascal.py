"""Bias calibration (Li et al. 2021, light): the corrections a plain IF loop gives, layer by
layer; a merge's correction lands on its main path; the calibrated SNN runs the same in every
engine. What it does to the steps an SNN needs is measured by the latency job, not tested."""

import pytest
import torch
from torch import nn

from neurosnn.conversion import convert
from neurosnn.conversion.biascal import calibrate_biases
from neurosnn.errors import UserError
from neurosnn.simulation.run import simulate


def pointwise_model() -> nn.Module:
    """Two 1×1 convolutions and a classifier: every position is its own small network."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 1), nn.ReLU(), nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)
    )
    with torch.no_grad():  # every layer active on inputs in [0, 1]
        model[0].weight.uniform_(0.2, 1.0)
        model[0].bias.copy_(torch.tensor([0.05, -0.1, 0.1]))
        model[2].weight.uniform_(0.1, 0.8)
        model[2].bias.copy_(torch.tensor([-0.05, 0.1]))
    return model.eval()


@torch.no_grad()
def reference_corrections(model, x, thresholds, phi, T):
    """Li et al.'s sequential correction with a hand-written IF loop (subtractive reset, start
    at φθ, all layers within a step): what calibrate_biases must return."""
    convs = [model[0], model[2]]
    weights = [(c.weight.detach().clone(), c.bias.detach().clone()) for c in convs]

    def ann(i):
        a = x
        for w, b in [(c.weight, c.bias) for c in convs][: i + 1]:
            a = torch.relu(nn.functional.conv2d(a, w, b))
        return a

    targets = [ann(i).mean((0, 2, 3)) for i in range(2)]
    out = []
    for i in range(2):
        v = [torch.full_like(ann(j), phi * thresholds[j]) for j in range(2)]
        counts = torch.zeros_like(ann(i))
        for _ in range(T):
            inp = x
            for j in range(i + 1):
                w, b = weights[j]
                v[j] = v[j] + nn.functional.conv2d(inp, w, b)
                spikes = (v[j] >= thresholds[j]).float()
                v[j] = v[j] - spikes * thresholds[j]
                inp = spikes * thresholds[j]
            counts += spikes
        error = targets[i] - (counts * thresholds[i] / T).mean((0, 2, 3))
        weights[i] = (weights[i][0], weights[i][1] + error)
        out.append(error)
    return out


@pytest.mark.parametrize("phi", [0.0, 0.5])
def test_corrections_are_those_of_a_plain_if_loop(phi):
    model = pointwise_model()
    x = torch.rand(6, 1, 2, 2)
    snn = convert(model, [x], (1, 2, 2), phi=phi)
    snn.set_thresholds([0.9, 0.7])
    expected = reference_corrections(model, x, [0.9, 0.7], phi, T=5)
    got = calibrate_biases(snn, [x[:4], (x[4:], torch.zeros(2))], timesteps=5)
    assert list(got) == snn.if_names
    for name, want, conv in zip(snn.if_names, expected, (model[0], model[2]), strict=True):
        assert torch.allclose(got[name], want, atol=1e-6)
        biased = snn.incoming(name)[0][1].ops[-1].bias
        assert torch.allclose(biased, conv.bias + want, atol=1e-6)  # the model is untouched
    assert any(float(e.abs().max()) > 0.01 for e in expected)  # a case with something to fix


def test_a_merge_is_corrected_on_its_main_path_and_engines_still_agree():
    from tests.test_graph_engine import resnet_snn

    snn, x = resnet_snn(phi=0.5)
    merges = [n for n in snn.if_names if len(snn.sources(n)) > 1]
    assert merges

    def main_path(name):  # the first connection with weights; the shortcut adds no bias
        return next(c.ops[-1] for _, c in snn.incoming(name) if len(c.ops))

    before = {n: main_path(n).bias.clone() for n in merges}
    others = {
        n: [c.ops[-1].bias.clone() for _, c in snn.incoming(n)[1:] if len(c.ops)] for n in merges
    }
    got = calibrate_biases(snn, [x], timesteps=8)
    for name in merges:
        assert torch.allclose(main_path(name).bias, before[name] + got[name], atol=1e-6)
        after = [c.ops[-1].bias for _, c in snn.incoming(name)[1:] if len(c.ops)]
        assert all(torch.equal(a, b) for a, b in zip(after, others[name], strict=True))
    y = torch.zeros(len(x), dtype=torch.long)
    for delay in ("layer", "none"):
        fast = simulate(snn, [(x, y)], 12, delay=delay)
        ref = simulate(snn, [(x, y)], 12, delay=delay, engine="reference")
        assert fast.spike_counts.keys() == ref.spike_counts.keys()
        for name in snn.if_names:
            assert torch.equal(fast.spike_counts[name], ref.spike_counts[name])


@pytest.mark.parametrize("timesteps", [0, 2.5])
def test_bad_timesteps_are_refused(timesteps):
    snn = convert(pointwise_model(), [torch.rand(4, 1, 2, 2)], (1, 2, 2))
    with pytest.raises(UserError, match="timesteps must be an integer >= 1"):
        calibrate_biases(snn, [torch.rand(2, 1, 2, 2)], timesteps)


@pytest.mark.parametrize("kind", ["light", "advanced"])
def test_the_latency_job_calibrates_its_recipes_on_the_first_calibration_batch(tmp_path, kind):
    from neurosnn.conversion.biascal import calibrate_potentials
    from neurosnn.io.data import synthetic
    from neurosnn.io.snnfile import load_snn
    from neurosnn.jobs.latency import RECIPES, LatencyConfig, measure_latency
    from tests.test_graph_engine import TinyResNet, init

    data = synthetic(n_train=128, n_test=32, num_classes=5, in_channels=2, input_size=8, seed=0)
    torch.manual_seed(0)
    model = init(TinyResNet())
    cfg = LatencyConfig(
        recipes=("all", f"phi+onset+{kind}"),
        timesteps=16,
        long_horizon=1,
        test_images=32,
        calib_images=128,
    )
    report = measure_latency(model, data, cfg, tmp_path, progress=False)
    assert [r.recipe for r in report.results] == ["all", f"phi+onset+{kind}"]
    recipe = RECIPES[f"phi+onset+{kind}"]
    x = next(data.train.random_subset(128, 0).batches(256))[0]
    expected = recipe.convert(model, [x], (2, 8, 8))
    recipe.set_on(expected, list(expected.thresholds))
    calibrate = calibrate_biases if kind == "light" else calibrate_potentials
    calibrate(expected, [x], recipe.calibration_timesteps)
    saved, _ = load_snn(tmp_path / f"phi+onset+{kind}.snn.h5")
    plain = recipe.convert(model, [x], (2, 8, 8))  # the same recipe uncalibrated
    recipe.set_on(plain, list(plain.thresholds))
    y = torch.zeros(8, dtype=torch.long)
    runs = [simulate(s, [(x[:8], y)], 12, delay="none") for s in (saved, expected, plain)]
    for name in saved.if_names:
        assert torch.equal(runs[0].spike_counts[name], runs[1].spike_counts[name])
    assert any(
        not torch.equal(runs[0].spike_counts[n], runs[2].spike_counts[n]) for n in saved.if_names
    )
