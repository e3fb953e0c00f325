"""Per-neuron initial potentials (``snn.offsets``) and Li et al.'s potential calibration: the
changes a plain IF loop gives, the same spikes in every engine, the module, the surrogate
network and the SNN file, and a NIR export that refuses them."""

import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.conversion.biascal import calibrate_potentials
from neurosnn.errors import UserError
from neurosnn.simulation.run import simulate
from tests.test_biascal import pointwise_model
from tests.test_latency_modes import assert_same_run, converted


@torch.no_grad()
def reference_potentials(model, x, thresholds, phi, T):
    """Li et al.'s sequential potential calibration with a hand-written IF loop (subtractive
    reset, start at φθ + u, all layers within a step)."""
    convs = [model[0], model[2]]

    def ann(i):
        a = x
        for c in convs[: i + 1]:
            a = torch.relu(c(a))
        return a

    u = [torch.zeros_like(ann(j)[0]) for j in range(2)]
    for i in range(2):
        v = [phi * thresholds[j] + u[j].expand_as(ann(j)) for j in range(2)]
        counts = torch.zeros_like(ann(i))
        for _ in range(T):
            inp = x
            for j in range(i + 1):
                v[j] = v[j] + convs[j](inp)
                spikes = (v[j] >= thresholds[j]).float()
                v[j] = v[j] - spikes * thresholds[j]
                inp = spikes * thresholds[j]
            counts += spikes
        u[i] = u[i] + T * (ann(i) - counts * thresholds[i] / T).mean(0)
    return u


@pytest.mark.parametrize("phi", [0.0, 0.5])
def test_changes_are_those_of_a_plain_if_loop(phi):
    model = pointwise_model()
    x = torch.rand(6, 1, 2, 2)
    snn = convert(model, [x], (1, 2, 2), phi=phi)
    snn.set_thresholds([0.9, 0.7])
    expected = reference_potentials(model, x, [0.9, 0.7], phi, T=5)
    got = calibrate_potentials(snn, [x[:4], (x[4:], torch.zeros(2))], timesteps=5)
    assert list(got) == snn.if_names
    for name, want in zip(snn.if_names, expected, strict=True):
        assert got[name].shape == want.shape == (3 if name == snn.if_names[0] else 2, 2, 2)
        assert torch.allclose(got[name], want, atol=1e-5)
        assert torch.allclose(snn.offsets[name], want, atol=1e-5)
    assert any(float(u.abs().max()) > 0.05 for u in expected)  # a case with something to fix
    with pytest.raises(UserError, match="timesteps must be an integer >= 1"):
        calibrate_potentials(snn, [x], 0)


def with_offsets(snn):
    gen = torch.Generator().manual_seed(1)
    snn.set_offsets(
        {n: 0.4 * torch.randn(*snn.layer(n).shape, generator=gen) for n in snn.if_names}
    )
    return snn


@pytest.mark.parametrize("delay", ["layer", "none"])
def test_offsets_run_alike_in_every_engine_the_module_and_the_surrogate(data, delay):
    from neurosnn.learn.surrogate.network import SurrogateSNN

    snn = with_offsets(converted(data))
    snn.set_phi(0.5)
    ref = simulate(snn, data.test.batches(16), 20, engine="reference", delay=delay)
    fast = simulate(snn, data.test.batches(16), 20, time_block=6, delay=delay)
    assert_same_run(fast, ref, snn.if_names)
    plain = simulate(converted(data), data.test.batches(16), 20, delay=delay)
    assert not torch.equal(plain.spike_counts[snn.if_names[0]], ref.spike_counts[snn.if_names[0]])
    x, _ = next(iter(data.test.batches(16)))
    module = snn.as_module(delay=delay)
    steps = module.run(x, 20)
    surrogate = SurrogateSNN(snn, delay=delay)
    with torch.no_grad():
        outs = surrogate(x, 20)
    one = simulate(snn, [(x, torch.zeros(len(x), dtype=torch.long))], 20, delay=delay)
    assert torch.equal(steps[-1].argmax(1), one.predictions)
    torch.testing.assert_close(outs.output[-1], steps[-1], rtol=1e-5, atol=1e-5)


def test_offsets_survive_the_snn_file_and_block_a_nir_export(data, tmp_path):
    from neurosnn.io.nirio import to_nir
    from neurosnn.io.snnfile import load_snn, save_snn

    snn = with_offsets(converted(data))
    save_snn(tmp_path / "a.snn.h5", snn)
    loaded, _ = load_snn(tmp_path / "a.snn.h5")
    for name in snn.if_names:
        assert torch.equal(loaded.offsets[name], snn.offsets[name])
    a, b = (simulate(s, data.test.batches(16), 12, delay="none") for s in (snn, loaded))
    assert_same_run(a, b, snn.if_names)
    with pytest.raises(UserError, match="initial potentials"):
        to_nir(snn)
    with pytest.raises(UserError, match="has shape"):
        snn.set_offsets({snn.if_names[0]: torch.zeros(3)})
    with pytest.raises(UserError, match="not an IF layer"):
        snn.set_offsets({"nope": 0.0})
    net = snn.as_module()
    state = net.state_dict()
    snn.set_offsets({n: 0.0 for n in snn.if_names})
    net.load_state_dict(state)
    assert torch.equal(loaded.offsets[snn.if_names[1]], snn.offsets[snn.if_names[1]])
