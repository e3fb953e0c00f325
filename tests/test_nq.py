"""Noise-quantised (NQ) training: the residual measured against hand-worked IF neurons and the
converted SNN, the training noise, and its place in the training loop."""

import pytest
import torch
from torch import nn

import neurosnn.learn.train as train_mod
from neurosnn.conversion import convert
from neurosnn.io.checkpoint import load_checkpoint
from neurosnn.learn.nq import measure_residual, nq_layers, spiking_rates
from neurosnn.learn.train import TrainConfig, train_ann
from neurosnn.networks import create_network
from neurosnn.networks.blocks import NQ, QCFS
from neurosnn.simulation.run import simulate


def test_residual_by_hand():
    # λ = 1, L = 4, T = 2, φ = 1/2. z = 0.3: QCFS ⌊1.2 + 0.5⌋/4 = 0.25; IF V = 0.8, 1.1 →
    # one spike, rate 0.5; gap −0.25. z = 0.6: QCFS ⌊2.4 + 0.5⌋/4 = 0.5; IF V = 1.1 (spike,
    # 0.1), 0.7 → rate 0.5; gap 0. std of {−0.25, 0} = 0.125.
    model = nn.Sequential(nn.Flatten(), NQ(4, 1.0))
    x = torch.tensor([[0.3, 0.6]])
    assert measure_residual(model, x, steps=2) == {"1": pytest.approx(0.125)}
    # at T = L a constant input gives QCFS exactly (Bu et al., Theorem 2): no residual
    assert measure_residual(model, torch.rand(50, 7))["1"] == pytest.approx(0.0, abs=1e-7)


def net(name: str):
    torch.manual_seed(0)
    model = create_network(name, 4, 1, 8, width=0.5, activation="nq", levels=4, qcfs_threshold=1.0)
    model.train()
    with torch.no_grad():
        for _ in range(3):  # BatchNorm statistics away from their initial values
            model(torch.randn(64, 1, 8, 8))
    return model.eval()


@pytest.mark.parametrize("name", ["vgg5", "resnet20"])
def test_time_batched_run_is_the_converted_snn_without_delay(name):
    model, x, steps = net(name), torch.randn(24, 1, 8, 8), 6
    layers = nq_layers(model)
    # spikes within the first t steps, t = 1..T, from the rates of t-step runs
    totals = {n: [] for n, _ in layers}
    for t in range(1, steps + 1):
        rates = spiking_rates(model, x, t)
        for n, m in layers:
            totals[n].append(round(float(rates[n].sum()) * t / float(m.threshold.detach())))
    snn = convert(model, [x], (1, 8, 8), thresholds="trained", phi=0.5)
    res = simulate(snn, [(x, torch.zeros(len(x), dtype=torch.long))], steps, delay="none")
    assert len(res.spike_counts) == len(layers)
    for (n, _), counts in zip(layers, res.spike_counts.values(), strict=True):
        assert totals[n][-1] > 0
        assert totals[n] == counts.cumsum(0).tolist()
    assert torch.equal(rates["output"].argmax(1), res.predictions)


def test_noise_in_training_only():
    act = NQ(4, 2.0)
    x = torch.rand(200_000) * 3
    clean = QCFS(4, 2.0)(x)
    assert torch.equal(act.eval()(x), clean)
    act.noise_std.fill_(0.1)
    torch.manual_seed(0)
    noise = (act.train()(x) - clean).detach()  # λ is a parameter: the output has a graph
    assert float(noise.mean()) == pytest.approx(0.0, abs=2e-3)
    assert float(noise.std()) == pytest.approx(0.1, rel=0.02)
    assert torch.equal(act.eval()(x), clean)


def test_nq_refuses_max_pooling():
    with pytest.raises(ValueError, match="pool='avg'"):
        create_network("vgg5", 4, 1, 8, activation="nq", pool="max")


def small_nq(data):
    torch.manual_seed(0)
    return create_network(
        "vgg5", data.num_classes, 1, 8, width=0.125, activation="nq", levels=4, qcfs_threshold=2.0
    )


def test_training_measures_the_residual_every_epoch_and_resumes_with_it(
    tmp_path, data, monkeypatch
):
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.02)
    full = train_ann(small_nq(data), data, cfg, out_dir=tmp_path / "full", progress=False)
    sigmas = [e["residual_std"] for e in full.history]
    assert len(sigmas) == 2 and all(len(s) == 4 for s in sigmas)
    assert any(v > 0 for v in sigmas[-1])
    # the checkpoint carries the noise; rebuilt, the network measures what was recorded
    model = load_checkpoint(tmp_path / "full").build()
    assert [float(m.noise_std) for _, m in nq_layers(model)] == pytest.approx(sigmas[-1])
    images = train_mod._residual_images(model, data, cfg.seed)
    assert list(measure_residual(model, images).values()) == pytest.approx(sigmas[-1])

    calls = {"n": 0}
    real_evaluate = train_mod.evaluate

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # epoch 1 (and its residual) is saved, epoch 2 is lost
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_mod, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_ann(small_nq(data), data, cfg, out_dir=tmp_path / "resumed", progress=False)
    monkeypatch.setattr(train_mod, "evaluate", real_evaluate)
    resumed = train_ann(
        small_nq(data), data, cfg, out_dir=tmp_path / "resumed", resume=True, progress=False
    )
    for k, v in full.state_dict.items():
        torch.testing.assert_close(resumed.state_dict[k], v, rtol=0, atol=0)
