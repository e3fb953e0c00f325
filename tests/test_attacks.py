import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurosnn.conversion import convert
from neurosnn.io.record import read_images, write_images
from neurosnn.learn.train import TrainConfig, evaluate, train_ann
from neurosnn.measures.attacks import (
    ann_activations,
    ans,
    fgsm,
    fgsm_split,
    noise_sensitivity,
    parse_epsilon,
    snn_spike_totals,
)
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg

EPS = 8 / 255


@pytest.fixture
def trained(data):
    model = tiny_vgg()
    train_ann(model, data, TrainConfig(epochs=3, batch_size=32, lr=0.05), progress=False)
    return model.eval()


def pixels_of(split):
    return split.images.float() / 255


def test_fgsm_contract_on_a_trained_net(trained, data):
    split = data.test
    x, y = pixels_of(split), split.labels
    params = {k: v.clone() for k, v in trained.state_dict().items()}
    grads = [None if p.grad is None else p.grad.clone() for p in trained.parameters()]
    trained.train()  # the attack must leave the mode as it found it
    adv = fgsm(trained, x, y, EPS, split.mean, split.std)
    assert trained.training
    for p, g in zip(trained.parameters(), grads, strict=True):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    assert all(torch.equal(v, params[k]) for k, v in trained.state_dict().items())
    assert (adv - x).abs().max() <= EPS + 1e-7
    assert adv.min() >= 0 and adv.max() <= 1
    trained.eval()

    def loss(p):
        return F.cross_entropy(trained((p - split.mean[0]) / split.std[0]), y)

    with torch.no_grad():
        assert loss(adv) > loss(x)  # the attack increases the loss of the trained net
    assert evaluate(trained, split) > 0.6  # the net did learn


def test_fgsm_split_is_exact_on_the_grey_level_grid(trained, data):
    adv = fgsm_split(trained, data.test, EPS, batch_size=16)
    assert adv.images.dtype == torch.uint8
    diff = adv.images.int() - data.test.images.int()
    clipped = (adv.images == 0) | (adv.images == 255)
    # exactly ±8 grey levels, 0 where the gradient is 0, less only where clipped at 0 or 255
    assert ((diff.abs() == 8) | (diff == 0) | ((diff.abs() < 8) & clipped)).all()
    assert (diff.abs() == 8).float().mean() > 0.5
    # batched equals one batch, and the images carry their own labels
    whole = fgsm_split(trained, data.test, EPS, batch_size=len(data.test))
    assert torch.equal(adv.images, whole.images) and torch.equal(adv.labels, data.test.labels)
    # off the grid: float pixels
    off = fgsm_split(trained, data.test, 0.01)
    assert off.images.dtype == torch.float32
    assert (off.images - pixels_of(data.test)).abs().max() <= 0.01 + 1e-7
    strong = fgsm_split(trained, data.test, 64 / 255)
    assert evaluate(trained, strong) < evaluate(trained, data.test)


def test_ans_by_hand():
    clean = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    adv = torch.tensor([[3.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    got = ans(clean, adv)
    assert got[0] == pytest.approx(4 / 5) and math.isnan(got[1]) and got[2] == 0


def test_noise_sensitivity_of_a_two_layer_toy():
    # layer "a" = relu(W x), layer "b" = relu(V a), worked out by hand
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    v = torch.tensor([[1.0, 1.0]])

    def activations(x):
        a = torch.relu(x @ w.T)
        return {"a": a, "b": torch.relu(a @ v.T)}

    clean = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    adv = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    # image 0: a = (1, 2) → (1, 4): |(0, 2)| / |(1, 2)| = 2/√5; b = 3 → 5: 2/3
    # image 1: a = (2, 0) → (2, 2): 2/2 = 1; b = 2 → 4: 2/2 = 1
    r = noise_sensitivity(activations, [(clean, adv)])
    assert r.layers == ["a", "b"] and r.images == [2, 2]
    assert r.mean == pytest.approx([(2 / math.sqrt(5) + 1) / 2, (2 / 3 + 1) / 2])
    assert r.std == pytest.approx([(1 - 2 / math.sqrt(5)) / 2, (1 - 2 / 3) / 2])
    same = noise_sensitivity(activations, [(clean, clean.clone())])
    assert same.mean == [0.0, 0.0]


def test_ann_activations_follow_the_snn_layers(trained, data):
    x, _ = next(data.test.batches(8))
    acts = ann_activations(trained, (1, 8, 8))(x)
    snn = convert(trained, [x], (1, 8, 8))
    assert list(acts) == snn.if_names
    assert all(tuple(a.shape[1:]) == tuple(snn.layer(n).shape) for n, a in acts.items())
    zero = noise_sensitivity(ann_activations(trained, (1, 8, 8)), [(x, x.clone())])
    assert all(m == 0 for m in zero.mean)


def test_snn_spike_totals_match_the_recorded_trains(trained, data):
    snn = convert(trained, [x for x, _ in data.train.batches(64)], (1, 8, 8))
    x, y = next(data.test.batches(6))
    totals = snn_spike_totals(snn, 15)(x)
    trains = {}

    def sink(layer, first, packed, shape):
        trains[layer] = packed

    simulate(snn, [(x, y)], 15, engine="reference", record_spikes=6, spike_sink=sink)
    for name in snn.if_names:
        n = snn.layer(name).n
        bits = np.unpackbits(trains[name].numpy(), axis=-1, count=n)  # [T, B, n]
        expected = torch.from_numpy(bits.sum(0)).float()
        assert torch.equal(totals[name].flatten(1), expected)


def test_image_set_round_trip(tmp_path, trained, data):
    adv = fgsm_split(trained, data.test, EPS)
    path = write_images(tmp_path / "adv.h5", adv.images.numpy(), adv.labels.numpy(), {"eps": EPS})
    images, labels, meta = read_images(path)
    assert np.array_equal(images, adv.images.numpy()) and np.array_equal(labels, adv.labels)
    assert meta == {"eps": EPS}


@pytest.mark.parametrize("text, value", [("8/255", 8 / 255), ("0.03", 0.03), ("0", 0.0)])
def test_parse_epsilon(text, value):
    assert parse_epsilon(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["8/0", "eight", "2", "-0.1"])
def test_parse_epsilon_rejects(text):
    with pytest.raises(ValueError, match="epsilon"):
        parse_epsilon(text)


def test_fgsm_rejects_bad_epsilon(trained, data):
    with pytest.raises(ValueError, match="epsilon"):
        fgsm(trained, pixels_of(data.test), data.test.labels, 1.5, data.test.mean, data.test.std)


def test_fgsm_through_the_snn_raises_the_snn_loss(trained, data):
    from neurosnn.learn.surrogate.network import SNNClassifier, SurrogateSNN

    snn = convert(trained, [x for x, _ in data.train.batches(64)], (1, 8, 8))
    model = SNNClassifier(SurrogateSNN(snn), 16)
    split = data.test
    x, y = pixels_of(split), split.labels
    adv = fgsm(model, x, y, 16 / 255, split.mean, split.std)
    assert (adv - x).abs().max() <= 16 / 255 + 1e-7 and adv.min() >= 0 and adv.max() <= 1

    def loss(p):
        with torch.no_grad():
            return F.cross_entropy(model((p - split.mean[0]) / split.std[0]), y)

    assert loss(adv) > loss(x)
    assert all(p.grad is None for p in model.parameters())  # only the input got a gradient
