"""NIR files for other simulators (``--nir-target``): the portable form computes what neurosnn's
form computes, and each simulator that ``make consumers`` installed runs its file with its own
documented import call as the docs say it does: Norse, snnTorch and SpikingJelly exactly as
neurosnn (the last two, whose neurons reset to zero, through their form's recurrent reset
edge); sinabs and Rockpool as neurosnn but for their several spikes per step (and sinabs' clip
at −θ). A simulator not installed is a visible skip."""

import logging

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")

from neurosnn.conversion import convert  # noqa: E402
from neurosnn.errors import UserError  # noqa: E402
from neurosnn.io.nirconsumer import build, predictions  # noqa: E402
from neurosnn.io.nirconsumers import environment, run_in  # noqa: E402
from neurosnn.io.nirio import write_nir  # noqa: E402
from neurosnn.io.nirtargets import TARGETS  # noqa: E402
from tests.conftest import tiny_vgg  # noqa: E402
from tests.test_graph_convert import SHAPE, TinyResNet, init  # noqa: E402

T = 30


@pytest.fixture
def chain(data):
    snn = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    snn.set_percentiles([90.0, 90.0, 90.0, 90.0])  # low thresholds: resets matter
    return snn, next(iter(data.test.batches(40)))[0]


@pytest.fixture
def resnet():
    torch.manual_seed(0)
    x = torch.rand(64, *SHAPE)
    snn = convert(init(TinyResNet()), [x], SHAPE)
    snn.set_percentiles([50.0] * len(snn.if_names))  # potentials overshoot: resets matter
    return snn, x[:40]


def potentials(snn, x):
    """neurosnn's output potential each step, delay="none" (what NIR executors run)."""
    from neurosnn.simulation.engine.fast import run_blocks

    theta, phi = torch.tensor(snn.thresholds), torch.tensor(snn.phi)
    blocks = run_blocks(
        snn, x, T, theta.expand(len(x), -1), phi=phi.expand(len(x), -1), delay="none"
    )
    return torch.cat([b.output.clone() for b in blocks]).double().numpy()


def nir_if(snn, x, tmp_path):
    """NIR's own IF (reset to 0, fire on >) on neurosnn's file, with neurosnn's nirtorch map."""
    path = write_nir(tmp_path / "plain.nir", snn)
    module, outs, state = build(path, reset="zero", inclusive=False), [], None
    with torch.no_grad():
        for _ in range(T):
            out, state = module(x) if state is None else module(x, state)
            outs.append(out)
    return torch.stack(outs).double().numpy()


def consumer(name):
    python = environment(name)
    if python is None:
        pytest.skip(f"{name} is not installed (make consumers)")
    return python


class ZeroResetCubaLIF(torch.nn.Module):
    """A ``CubaLIF`` of the snnTorch/SpikingJelly form as both run it: ``I += x``, ``v = I``
    (τ_mem = dt), a spike where ``v > θ`` (SpikingJelly: ``>=``), then ``v`` reset to zero
    (which the next step's ``v = I`` overwrites)."""

    def __init__(self, node):
        super().__init__()
        self.theta = torch.from_numpy(np.asarray(node.v_threshold, np.float32))

    def forward(self, x, state=None):
        current = x if state is None else state + x
        return (current > self.theta).float(), current


@pytest.mark.parametrize("net", ["chain", "resnet"])
def test_the_portable_form_computes_what_the_neurosnn_form_computes(tmp_path, net, request):
    """Pooling and Scale as diagonal convolutions, the classifier as convolutions, no Flatten,
    no integrator, the reset as a recurrent edge: run as the consumers run it (without them
    installed), the running sum of its output current is neurosnn's output potential."""
    import nirtorch

    snn, x = request.getfixturevalue(net)
    path = write_nir(tmp_path / "t.nir", snn, target="spikingjelly")
    graph = nir.read(path)
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert not kinds & {"AvgPool2d", "Scale", "Flatten", "I", "Affine", "IF"}, kinds
    model = nirtorch.nir_to_torch(graph, {nir.CubaLIF: ZeroResetCubaLIF})
    with torch.no_grad():
        outs = torch.stack(_stepped(model, x)).reshape(T, len(x), -1).double().numpy()
    np.testing.assert_allclose(outs.cumsum(0), potentials(snn, x), rtol=1e-4, atol=1e-4)


def test_an_unknown_target_and_a_merge_for_rockpool_are_one_line(tmp_path, chain, resnet):
    with pytest.raises(UserError, match=r"--nir-target: expected one of neurosnn, nirtorch, nor"):
        write_nir(tmp_path / "a.nir", chain[0], target="lava")
    with pytest.raises(UserError, match=r"rockpool runs .* depth-first.* at block1\.conv2"):
        write_nir(tmp_path / "b.nir", resnet[0], target="rockpool")
    assert not (tmp_path / "b.nir").exists()


def test_a_target_that_cannot_hold_phi_says_which_layers_lose_it(tmp_path, data, caplog):
    snn = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8), phi=0.5)
    with caplog.at_level(logging.WARNING, logger="neurosnn.io.nirio"):
        write_nir(tmp_path / "a.nir", snn, target="norse")
    assert "norse starts every neuron at 0" in caplog.text and snn.if_names[0] in caplog.text
    graph = nir.read(tmp_path / "a.nir")
    assert "norse.torch.from_nir" in graph.metadata["neurosnn"]


@pytest.mark.parametrize("net", ["chain", "resnet"])
def test_norse_runs_the_file_exactly_as_neurosnn(tmp_path, net, request):
    """Residual merges included: the zero-weight edges order the branches before the merge
    for Norse's depth-first executor."""
    snn, x = request.getfixturevalue(net)
    path = write_nir(tmp_path / "n.nir", snn, target="norse")
    theirs = run_in("norse", path, x.numpy(), T, consumer("norse"))
    ours = potentials(snn, x)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-3)
    assert (theirs.argmax(-1) == predictions(snn, x, T).numpy()).mean() >= 0.99


class SinabsIF(torch.nn.Module):
    """sinabs' IAFSqueeze as its from_nir builds it: ``v += x``; ``floor(v/θ)`` spikes where
    ``v > 0``; ``v -= spikes·θ``; ``v`` clipped at ``−θ``."""

    def __init__(self, node):
        super().__init__()
        self.theta = torch.from_numpy(np.asarray(node.v_threshold, np.float32))

    def forward(self, x, state=None):
        v = x if state is None else state + x
        spikes = (v > 0) * torch.floor(v / self.theta)
        v = torch.clamp(v - spikes * self.theta, min=-self.theta)
        return spikes, v


@pytest.mark.parametrize("net", ["chain", "resnet"])
def test_sinabs_runs_the_file_as_neurosnn_but_for_its_clip_and_multi_spikes(tmp_path, net, request):
    import nirtorch

    snn, x = request.getfixturevalue(net)
    path = write_nir(tmp_path / "s.nir", snn, target="sinabs")
    theirs = run_in("sinabs", path, x.numpy(), T, consumer("sinabs"))
    model = nirtorch.nir_to_torch(nir.read(path), {nir.IF: SinabsIF})
    with torch.no_grad():
        described = torch.stack(_stepped(model, x)).reshape(T, len(x), -1).double().numpy()
    np.testing.assert_allclose(theirs, described.cumsum(0), rtol=1e-4, atol=1e-3)
    ours = predictions(snn, x, T).numpy()
    assert (theirs.argmax(-1) == ours).mean() >= 0.8  # measured on the demo's VGG9: 98% at T


class MultiSpikeCubaLIF(ZeroResetCubaLIF):
    """The snnTorch form's neuron firing as Rockpool's ``LIFTorch`` does: ``floor(v/θ)``
    spikes where ``v >= θ``."""

    def forward(self, x, state=None):
        current = x if state is None else state + x
        return (current >= self.theta) * torch.floor(current / self.theta), current


def test_rockpool_runs_the_file_as_neurosnn_but_for_its_multi_spikes(tmp_path, chain):
    """Rockpool's dense form (every convolution unrolled, the reset a recurrent weight) computes
    neurosnn's network with Rockpool's several spikes per step, and nothing else."""
    import nirtorch

    snn, x = chain
    path = write_nir(tmp_path / "r.nir", snn, target="rockpool")
    kinds = {type(n).__name__ for n in nir.read(path).nodes.values()}
    assert kinds == {"Input", "Affine", "NIRGraph", "Output"}, kinds
    theirs = run_in("rockpool", path, x.numpy(), T, consumer("rockpool"))
    portable = nir.read(write_nir(tmp_path / "s.nir", snn, target="snntorch"))
    model = nirtorch.nir_to_torch(portable, {nir.CubaLIF: MultiSpikeCubaLIF})
    with torch.no_grad():
        described = torch.stack(_stepped(model, x)).reshape(T, len(x), -1).double().numpy()
    np.testing.assert_allclose(theirs, described.cumsum(0), rtol=1e-4, atol=1e-3)
    ours = predictions(snn, x, T).numpy()
    assert (theirs.argmax(-1)[-1] == ours[-1]).mean() >= 0.8  # low thresholds: many multi-spikes


def test_a_network_too_large_to_unroll_for_rockpool_is_one_line(tmp_path, monkeypatch, chain):
    from neurosnn.io import nirtargets

    monkeypatch.setattr(nirtargets, "DENSE_LIMIT", 1000)
    message = r"node .*: a convolution, unrolled \(rockpool maps none\), has \d+×64 weights"
    with pytest.raises(UserError, match=message):
        write_nir(tmp_path / "r.nir", chain[0], target="rockpool")
    assert not (tmp_path / "r.nir").exists()


def _stepped(module, x):
    outs, state = [], None
    for _ in range(T):
        out, state = module(x) if state is None else module(x, state)
        outs.append(out)
    return outs


@pytest.mark.parametrize("name", ["snntorch", "spikingjelly"])
@pytest.mark.parametrize("net", ["chain", "resnet"])
def test_snntorch_and_spikingjelly_run_the_file_as_neurosnn(tmp_path, name, net, request):
    """Both reset to zero whatever a file says; the recurrent −θ edge of their form carries
    neurosnn's subtractive reset past it: their potentials are neurosnn's, where NIR's own IF
    (what their IF map runs) is far from them."""
    snn, x = request.getfixturevalue(net)
    path = write_nir(tmp_path / "c.nir", snn, target=name)
    graph = nir.read(path)
    assert sum(isinstance(n, nir.CubaLIF) for n in graph.nodes.values()) == len(snn.if_names)
    assert sum(k.endswith(".reset") for k in graph.nodes) == len(snn.if_names)
    theirs = run_in(name, path, x.numpy(), T, consumer(name))
    ours = potentials(snn, x)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-3)
    assert (theirs.argmax(-1) == predictions(snn, x, T).numpy()).mean() >= 0.99
    assert np.abs(nir_if(snn, x, tmp_path) - ours).max() > 0.1  # the reset matters here


@pytest.mark.parametrize("name", ["snntorch", "spikingjelly"])
def test_snntorch_and_spikingjelly_start_at_phi(tmp_path, name, data):
    """φ·θ arrives as an input in the first step from a start neuron that fires once: their
    potentials are those of neurosnn's SNN with φ = 0.5, not of the same SNN started at 0."""
    snn = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8), phi=0.5)
    snn.set_percentiles([90.0] * len(snn.if_names))
    x = next(iter(data.test.batches(40)))[0]
    path = write_nir(tmp_path / "p.nir", snn, target=name)
    nodes = nir.read(path).nodes
    assert all(f"{n}.phi" in nodes for n in snn.if_names)
    theirs = run_in(name, path, x.numpy(), T, consumer(name))
    np.testing.assert_allclose(theirs, potentials(snn, x), rtol=1e-4, atol=1e-3)
    snn.set_phi(0.0)
    assert np.abs(potentials(snn, x) - theirs).max() > 0.1  # φ matters here


def test_every_target_loads_with_the_call_the_docs_give():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "guide" / "nir.md").read_text()
    for target in TARGETS.values():
        assert target.call in page, target.name


def _graph(neuron):
    """Input → Affine → ``neuron`` → Affine → Output, as another tool would write it."""
    w = np.eye(3, dtype=np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "fc1": nir.Affine(weight=w, bias=np.zeros(3, np.float32)),
        "cell": neuron,
        "fc2": nir.Affine(weight=w, bias=np.zeros(3, np.float32)),
        "out": nir.I(r=np.ones(3, np.float32)),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("input", "fc1"), ("fc1", "cell"), ("cell", "fc2"), ("fc2", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


ONE, ZERO = np.ones(3, np.float32), np.zeros(3, np.float32)
FOREIGN = {
    "IF": (nir.IF(r=ONE, v_threshold=ONE), r"node cell: a nir\.IF from another tool resets to v_r"),
    "LIF": (
        nir.LIF(tau=ONE, r=ONE, v_leak=ZERO, v_threshold=ONE),
        r"node cell: a nir\.LIF neuron .* not one neurosnn simulates",
    ),
    "CubaLIF": (
        nir.CubaLIF(tau_syn=ONE, tau_mem=ONE, r=ONE, v_leak=ZERO, v_threshold=ONE),
        r"node cell: a nir\.CubaLIF neuron",
    ),
    "LI": (nir.LI(tau=ONE, r=ONE, v_leak=ZERO), r"node cell: a nir\.LI neuron"),
    "Threshold": (nir.Threshold(threshold=ONE), r"node cell: a nir\.Threshold neuron"),
}


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_another_tools_neurons_are_refused_not_run_with_other_semantics(tmp_path, kind):
    from neurosnn.io.nirio import read_nir

    neuron, message = FOREIGN[kind]
    nir.write(tmp_path / "f.nir", _graph(neuron))
    with pytest.raises(UserError, match=message):
        read_nir(tmp_path / "f.nir")


def test_a_file_written_for_another_simulator_is_refused_naming_it(tmp_path, chain):
    from neurosnn.io.nirio import read_nir

    path = write_nir(tmp_path / "n.nir", chain[0], target="norse")
    with pytest.raises(UserError, match=r"written for norse \(--nir-target norse\)"):
        read_nir(path)


REFUSED = {
    "sinabs": r"node _?\d: a nir\.IF from another tool",
    "spikingjelly": r"node _?\d: a nir\.(IF from another tool|LIF neuron)",
    # Rockpool 3.1 writes an input of shape [1, 4] into a Linear of [4], which nir cannot read
    "rockpool": r"is not a readable NIR file: .*type mismatch",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_files_other_simulators_export_are_refused_naming_the_node(tmp_path, name):
    """snnTorch 1.0 and Norse 1.1 cannot write their own exports (their nir.write fails)."""
    import subprocess
    from pathlib import Path

    from neurosnn.io.nirio import read_nir

    python = consumer(name)
    script = Path(__file__).with_name("nir_exports.py")
    path = tmp_path / f"{name}.nir"
    subprocess.run([str(python), str(script), name, str(path)], check=True, capture_output=True)
    with pytest.raises(UserError, match=REFUSED[name]):
        read_nir(path)
