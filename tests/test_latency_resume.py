"""A resumed latency job reads a finished recipe's SNN and readout delays back instead of
searching, calibrating and choosing k again, and gives the same figures; a recipe with a run
missing, or an SNN file written before its readout delays were kept, is prepared again."""

import pytest
import torch

import neurosnn.jobs.latency as job
from neurosnn.io.snnfile import load_snn, save_snn
from neurosnn.jobs import prepare
from tests.test_readout import tiny_latency_run


def _figures(report):
    return [(r.recipe, r.metrics, r.thresholds, r.phi) for r in report.results]


def _refuse(*args, **kwargs):
    raise AssertionError("a finished recipe was prepared again")


def test_finished_recipe_is_read_back_not_searched_calibrated_or_rechosen(tmp_path, monkeypatch):
    name = "phi+onset+channelwise+search-k+advanced+delayed"
    first = tiny_latency_run(tmp_path, (name,))
    k = {
        counting: first.results[0].metrics[f"readout_after_delay_{counting}"]
        for counting in ("layer", "none")
    }
    _, meta = load_snn(tmp_path / f"{name}.snn.h5")
    assert meta["source"]["simulation"]["readout_after"] == k
    for step in ("search_recipe", "calibrate_recipe", "readout_delays"):
        monkeypatch.setattr(prepare, step, _refuse)
    again = tiny_latency_run(tmp_path, (name,))
    assert _figures(again) == _figures(first)


def _resnet_run(out):
    from neurosnn.io.data import synthetic
    from tests.test_graph_engine import TinyResNet, init

    data = synthetic(n_train=128, n_test=32, num_classes=5, in_channels=2, input_size=8, seed=0)
    torch.manual_seed(0)
    cfg = job.LatencyConfig(
        recipes=("phi+onset+channelwise+advanced+delayed",),
        timesteps=16,
        long_horizon=1,
        test_images=32,
        calib_images=128,
        target_timesteps=12,
        search=job.sized_search(5, 1, 64),
    )
    return job.measure_latency(init(TinyResNet()), data, cfg, out, progress=False)


@pytest.mark.parametrize("missing", ["delay-none record", "kept readout delays"])
def test_graph_recipe_is_prepared_again_when_not_every_run_is_kept(tmp_path, monkeypatch, missing):
    name = "phi+onset+channelwise+advanced+delayed"
    first = _resnet_run(tmp_path)
    if missing == "delay-none record":  # a graph's layer-delay recipe also runs without it
        (tmp_path / f"{name}.delay-none.h5").unlink()
    else:  # as neurosnn wrote it before it kept k with the SNN
        snn, meta = load_snn(tmp_path / f"{name}.snn.h5")
        del meta["source"]["simulation"]["readout_after"]
        save_snn(tmp_path / f"{name}.snn.h5", snn, meta["source"])
    calls = []
    choose = prepare.readout_delays
    monkeypatch.setattr(prepare, "readout_delays", lambda *a: calls.append(1) or choose(*a))
    again = _resnet_run(tmp_path)
    assert calls == [1]
    assert _figures(again) == _figures(first)
    if missing == "delay-none record":  # now every run is there: read back
        monkeypatch.setattr(prepare, "calibrate_recipe", _refuse)
        monkeypatch.setattr(prepare, "readout_delays", _refuse)
        assert _figures(_resnet_run(tmp_path)) == _figures(first)
