"""Delayed evaluation (readout_after = k): the prediction at step t > k is the argmax of the
output potential gained after step k, no step up to k answers, in every engine and time block."""

import pytest
import torch

from neurosnn.errors import UserError
from neurosnn.simulation.run import simulate
from tests.test_graph_engine import resnet_snn
from tests.test_module import chain_snn


def expected_correct(outputs: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Correct answers per step from the module's per-step output potentials ``[T, B, C]``."""
    read = outputs - outputs[k - 1] if k else outputs
    right = (read.argmax(-1) == labels) & read.ne(0).any(-1)
    right[:k] = False
    return right.sum(1)


@pytest.mark.parametrize("net", ["chain", "resnet"])
@pytest.mark.parametrize("k", [0, 1, 7])
def test_the_delayed_readout_is_the_potential_gained_after_k(net, k):
    snn, x = chain_snn() if net == "chain" else resnet_snn(phi=0.5)
    torch.manual_seed(1)
    labels = torch.randint(0, snn.layer(snn.output_name).n, (len(x),))
    outputs = snn.as_module("none").run(x, 20)
    want = expected_correct(outputs, labels, k)
    for engine, block in (("fast", None), ("fast", 3), ("reference", None)):
        run = simulate(
            snn, [(x, labels)], 20, delay="none", readout_after=k, engine=engine, time_block=block
        )
        assert torch.equal(run.correct, want)
        last = outputs[-1] - outputs[k - 1] if k else outputs[-1]
        assert torch.equal(run.predictions, last.argmax(1))
    if k:
        assert run.correct[:k].sum() == 0 and run.config["readout_after"] == k


@pytest.mark.parametrize("k", [-1, 20, 2.5])
def test_a_readout_past_t_or_not_a_count_is_refused(k):
    snn, x = chain_snn()
    said = r"readout_after must be an integer in \[0, T\) = \[0, 20\)"
    with pytest.raises(UserError, match=said):
        simulate(snn, [(x, torch.zeros(len(x), dtype=torch.long))], 20, readout_after=k)


def test_convert_reads_out_after_k_steps(tmp_path):
    from neurosnn.experiments import convert
    from neurosnn.io.record import read_run
    from tests.test_experiments import train_synthetic

    train_synthetic(tmp_path / "ann")
    args = ["--checkpoint", str(tmp_path / "ann"), "--timesteps", "10", "--test-images", "32"]
    args += ["--no-progress", "--readout-after"]
    assert convert.main([*args, "3", "--out", str(tmp_path / "run.h5")]) == 0
    run = read_run(tmp_path / "run.h5")
    assert run.simulation["readout_after"] == 3
    assert (run.accuracy[:3] == 0).all() and run.accuracy[-1] > 0.5  # a trained network
    with pytest.raises(
        SystemExit, match=r"--readout-after must be in \[0, timesteps\) = \[0, 10\)"
    ):
        convert.main([*args, "10", "--out", str(tmp_path / "bad.h5")])


@pytest.mark.parametrize("delay", ["none", "layer"])
def test_every_ks_curve_from_one_run_is_simulates_and_the_choice_is_the_earliest(delay):
    from neurosnn.simulation.curve import iso_accuracy_step
    from neurosnn.simulation.delayed import choose_readout_after, delayed_correct

    snn, x = resnet_snn(phi=0.5)
    labels = snn.as_module("none").run(x, 40)[-1].argmax(1)  # the long run's answers
    labels[::3] = (labels[::3] + 1) % snn.layer(snn.output_name).n  # not all reachable
    outputs = snn.as_module(delay).run(x, 16)
    steps = {}
    for k in range(9):
        run = simulate(snn, [(x, labels)], 16, delay=delay, readout_after=k)
        assert (delayed_correct(outputs, labels, k) == run.correct.numpy()).all()
        steps[k] = iso_accuracy_step(run.correct.numpy() / len(x), 0.55)
    k, got = choose_readout_after(snn, [(x[:5], labels[:5]), (x[5:], labels[5:])], 16, 0.55, delay)
    assert got == steps
    reached = [j for j in steps if steps[j] is not None]
    assert reached and k == min(reached, key=lambda j: (steps[j], j))


def test_the_latency_job_reads_its_delayed_recipe_after_the_chosen_k(tmp_path):
    from neurosnn.io.record import read_run

    report = tiny_latency_run(tmp_path, ("phi+onset+channelwise+delayed",))
    metrics = report.results[0].metrics
    k_none, k_layer = metrics["readout_after_delay_none"], metrics["readout_after_delay_layer"]
    assert k_layer == k_none + report.depth  # a chain: its undelayed run shifted by the depth
    run = read_run(tmp_path / "phi+onset+channelwise+delayed.h5")
    assert run.simulation["readout_after"] == k_layer
    assert run.config["readout_after"] == k_layer > 0


@pytest.mark.parametrize(
    "first,name",
    [
        ("phi+onset+channelwise+advanced", "phi+onset+channelwise+advanced+delayed"),
        ("phi+onset+channelwise+search", "phi+onset+channelwise+search+delayed"),
        ("phi+onset+channelwise+search", "phi+onset+channelwise+search+advanced+delayed"),
    ],
)
def test_a_calibrated_or_searched_delayed_recipe_chooses_its_k_after(
    tmp_path, monkeypatch, first, name
):
    from neurosnn.io.record import read_run
    from neurosnn.io.snnfile import load_snn
    from neurosnn.jobs import prepare

    seen = []  # the SNN's state when k is chosen

    def recording(snn, *args):
        seen.append((snn.thresholds, snn.phi, snn.offsets))
        return choose(snn, *args)

    def calibrating(snn, *args):
        calibrated.append((list(snn.thresholds), list(snn.phi)))
        return calibrate(snn, *args)

    choose, calibrate, calibrated = prepare.readout_delays, prepare.calibrate_recipe, []
    monkeypatch.setattr(prepare, "readout_delays", recording)
    monkeypatch.setattr(prepare, "calibrate_recipe", calibrating)
    report = tiny_latency_run(tmp_path, (first, name))
    done, delayed = (load_snn(tmp_path / f"{r}.snn.h5")[0] for r in (first, name))
    ((thresholds, phi, offsets),) = seen
    assert thresholds == delayed.thresholds and phi == delayed.phi  # after the search
    if "advanced" in name:
        assert delayed.offset_layers  # after the calibration
    for n, offset in delayed.offsets.items():
        assert torch.equal(offset, offsets[n])
        if first.endswith("advanced"):  # the same calibration in both
            assert torch.equal(offset, done.offsets[n])
    if "search" in name and "advanced" in name:  # calibrated for the searched θ and φ
        assert calibrated == [(delayed.thresholds, delayed.phi)]
        assert delayed.phi != [0.5] * len(delayed.phi)  # the search moved them
    assert done.thresholds == delayed.thresholds  # the same calibration or search in both
    if "search" in name:  # one search, shared: the delayed recipe resumed the finished one
        assert [p.name for p in tmp_path.glob("*_search")] == [f"{first}_search"]
    metrics = report.results[1].metrics
    k = metrics["readout_after_delay_layer"]
    assert read_run(tmp_path / f"{name}.h5").simulation["readout_after"] == k


def tiny_latency_run(out, recipes, **options):
    """The latency job on a small VGG and synthetic data, sized for a test (``options``: more
    LatencyConfig settings)."""
    from neurosnn.io.data import synthetic
    from neurosnn.jobs.latency import LatencyConfig, measure_latency, sized_search
    from tests.conftest import tiny_vgg

    data = synthetic(n_train=200, n_test=32, num_classes=4, in_channels=1, input_size=8, seed=0)
    cfg = LatencyConfig(
        recipes=recipes,
        timesteps=24,
        test_images=32,
        calib_images=200,
        target_timesteps=16,
        search=sized_search(5, 1, 64),
        **options,
    )
    return measure_latency(tiny_vgg(), data, cfg, out, progress=False)
