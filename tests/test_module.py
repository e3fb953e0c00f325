"""The converted SNN as a torch module: its steps are simulate()'s spikes, it moves and saves
like a module, and its thresholds stay the SNN's; dtype casts are refused in one line and a
backward in training mode names the surrogate module."""

import pytest
import torch

import neurosnn as ns
from neurosnn.errors import UserError
from neurosnn.simulation.module import SNNModule
from neurosnn.simulation.run import simulate
from tests.conftest import tiny_vgg
from tests.test_graph_engine import resnet_snn


def chain_snn():
    from neurosnn.conversion import convert
    from tests.conftest import tiny_vgg

    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    return convert(tiny_vgg(pool="max"), [x], (1, 8, 8), phi=0.5), x[:12]


@pytest.mark.parametrize("net", ["resnet", "chain"])
@pytest.mark.parametrize("delay", ["layer", "none"])
@pytest.mark.parametrize("onset", ["always", "input"])
def test_stepping_and_running_give_simulates_spikes(net, delay, onset):
    snn, x = resnet_snn(phi=0.5) if net == "resnet" else chain_snn()
    y = torch.zeros(len(x), dtype=torch.long)
    ref = simulate(snn, [(x, y)], 16, delay=delay, bias_onset=onset, engine="reference")
    net = snn.as_module(delay, onset)
    outputs, counts = net.run(x, 16, spike_counts=True)
    assert outputs.shape == (16, len(x), snn.layer(snn.output_name).n)
    assert torch.equal(outputs[-1].argmax(1), ref.predictions)
    for name in snn.if_names:
        assert torch.equal(counts[name].sum(1), ref.spike_counts[name])
    net.reset()
    stepped = torch.stack([net(x) for _ in range(16)])  # the user's own loop
    assert torch.equal(stepped, outputs)
    assert set(net.spikes) == set(snn.if_names)
    assert all(s.dtype == torch.bool for s in net.spikes.values())


def test_thresholds_are_the_snns_and_the_state_dict_keeps_them():
    snn, x = resnet_snn()
    net = snn.as_module()
    before = net.run(x, 12)
    snn.set_thresholds([0.5 * t for t in snn.thresholds])  # in place, nothing rebuilt
    assert not torch.equal(net.run(x, 12), before)
    state = net.state_dict()
    assert state["_extra_state"]["thresholds"] == snn.thresholds
    other, _ = resnet_snn()
    clone = other.as_module()
    clone.load_state_dict(state)
    assert other.thresholds == snn.thresholds
    assert torch.equal(clone.run(x, 12), net.run(x, 12))


def test_moves_with_to_and_refuses_wrong_inputs():
    snn, x = resnet_snn()
    net = snn.as_module().to(torch.float32).to("cpu")
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert len(list(net.parameters())) > 0  # the connections' weights are the module's
    net(x)
    with pytest.raises(ValueError, match="call reset"):
        net(x[:3])
    with pytest.raises(ValueError, match="sample shape"):
        net.run(torch.zeros(2, 1, 8, 8), 4)


def test_per_sample_thresholds_are_the_snns_one_row_per_sample():
    snn, _ = chain_snn()
    snn.set_thresholds([0.5 + i for i in range(len(snn.if_names))])
    theta, phi = snn.per_sample(3)
    assert theta.shape == phi.shape == (3, len(snn.if_names))
    assert theta.dtype == phi.dtype == torch.float32 and theta.device == snn.device
    assert theta.tolist() == [snn.thresholds] * 3 and phi.tolist() == [snn.phi] * 3


def test_dtype_casts_are_refused_in_one_line_and_device_moves_work(data):
    snn = ns.convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    net = SNNModule(snn)
    for cast in (net.double, net.half, lambda: net.to(torch.bfloat16)):
        with pytest.raises(UserError, match=r"SNNModule runs in float32 .*precision='bf16'"):
            cast()
    x = next(iter(data.test.batches(4)))[0]
    assert net.to("cpu").float().run(x, 3).dtype == torch.float32  # still usable


def test_backward_in_training_mode_points_to_the_surrogate_module(data):
    snn = ns.convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    net = SNNModule(snn)
    x = next(iter(data.test.batches(4)))[0]
    assert not net.training and not net(x).requires_grad  # inference: a plain tensor
    net.train()
    loss = net(x).sum()
    with pytest.raises(UserError, match="not differentiable .*network.SurrogateSNN"):
        loss.backward()
    with torch.no_grad():
        assert not net.run(x, 2).requires_grad


def test_torch_compile_traces_a_step_whole_and_compiles_it_twice_only():
    """No graph break in a step (thresholds and φ are read as tensors, the numba kernels
    give way to torch's ops under the compiler), and no recompilation per step: one graph for
    the first step, one for every later one. The compiled steps compute the same potentials
    up to float32 reordering (here exactly)."""
    import torch._dynamo

    snn, x = resnet_snn(phi=0.5)
    net = SNNModule(snn, delay="none")
    for step in range(2):
        explained = torch._dynamo.explain(net)(x)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), step
    torch._dynamo.reset()
    net.reset()
    eager = torch.stack([net(x) for _ in range(12)])
    compiled, counter = torch.compile(net, backend="eager"), torch._dynamo.utils.counters
    counter.clear()
    net.reset()
    steps = torch.stack([compiled(x) for _ in range(12)])
    assert counter["stats"]["unique_graphs"] == 2
    torch.testing.assert_close(steps, eager)


def test_the_writers_name_swapped_arguments(tmp_path):
    snn, _ = chain_snn()
    for write in (ns.save_snn, ns.write_nir):
        with pytest.raises(TypeError, match=rf"{write.__name__}\(path, snn\).*got str .*swapped"):
            write(snn, str(tmp_path / "x"))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="got int"):
            write(tmp_path / "x", 3)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_simulate_names_a_loaded_tuple_passed_as_the_snn(tmp_path):
    snn, x = chain_snn()
    ns.save_snn(tmp_path / "a.snn.h5", snn)
    loaded = ns.load_snn(tmp_path / "a.snn.h5")  # (snn, metadata)
    y = torch.zeros(len(x), dtype=torch.long)
    with pytest.raises(TypeError, match=r"simulate\(snn, .*got tuple .*\(snn, metadata\)"):
        ns.simulate(loaded, [(x, y)], 4)
    thresholds = torch.tensor(snn.thresholds).unsqueeze(0)
    with pytest.raises(TypeError, match=r"simulate_groups\(snn, .*got tuple"):
        ns.simulate_groups(loaded, [(x, y, y)], thresholds, 4)
    assert ns.simulate(loaded[0], [(x, y)], 4).n_images == len(x)
