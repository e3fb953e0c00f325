"""NIR export and import: the exact round trip with Scale nodes, the folded weights ``W·θ``,
nirtorch running the file as neurosnn does, and clear errors for what NIR cannot hold."""

import json

import h5py
import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")

from neurosnn.conversion import convert  # noqa: E402
from neurosnn.io.nirconsumer import build, compare  # noqa: E402
from neurosnn.io.nirio import NIRError, from_nir, read_nir, to_nir, write_nir  # noqa: E402
from neurosnn.simulation.run import simulate  # noqa: E402
from neurosnn.snn.synapses import UnitSpikes  # noqa: E402
from tests.conftest import tiny_vgg  # noqa: E402

T = 20


def converted(data, pool="avg", **kw):
    model = tiny_vgg(pool=pool)
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8), **kw)
    snn.set_percentiles([99.0, 99.5, 99.9, 98.0])  # thresholds as a search leaves them
    return snn


def run(snn, data, **kw):
    return simulate(snn, data.test.batches(16), T, **kw)


def weights(snn):
    return [p for c in snn.network.connections.values() for p in c.ops.parameters()]


@pytest.mark.parametrize("kw", [{"phi": 0.5}, {"channelwise": True}])
@pytest.mark.parametrize("delay", ["none", "layer"])
def test_unfolded_round_trip_is_spike_exact(tmp_path, data, kw, delay):
    snn = converted(data, **kw)
    path = write_nir(tmp_path / "a.nir", snn, fold=False, metadata={"dataset": "synthetic"})
    back, info = read_nir(path)
    assert back.layer_names == snn.layer_names
    assert back.thresholds == snn.thresholds and back.phi == snn.phi
    assert all(torch.equal(a, b) for a, b in zip(weights(back), weights(snn), strict=True))
    assert info["source"] == {"dataset": "synthetic"}
    assert info["semantics"]["reset"].startswith("subtract")
    a, b = run(back, data, delay=delay), run(snn, data, delay=delay)
    assert torch.equal(a.correct, b.correct)
    for name in snn.if_names:
        assert torch.equal(a.spike_counts[name], b.spike_counts[name])
        assert a.spike_counts[name].sum() > 0  # the comparison is not between silent layers


def test_folded_weights_carry_the_source_threshold(data):
    snn = converted(data)
    graph = to_nir(snn)  # fold=True
    theta = dict(zip(snn.if_names, snn.thresholds, strict=True))
    for prev, name in zip(snn.layer_names, snn.layer_names[1:], strict=False):
        conv = snn.connection(name).weighted
        node = next(graph.nodes[k] for k in graph.nodes if k.startswith(f"{name}."))
        if isinstance(node, nir.AvgPool2d):
            node = graph.nodes[f"{name}.conv"] if f"{name}.conv" in graph.nodes else None
            node = node or graph.nodes[f"{name}.affine"]
        expected = (conv.weight * theta[prev]).numpy()
        np.testing.assert_array_equal(node.weight, expected)
        if_node = graph.nodes[prev]
        assert np.all(if_node.v_threshold == np.float32(theta[prev]))
        assert np.all(if_node.v_reset == 0) and np.all(if_node.r == 1)
    assert isinstance(graph.nodes[snn.output_name], nir.I)
    assert not any(isinstance(n, nir.Scale) for n in graph.nodes.values())


def test_folded_file_reimports_and_reexports_unchanged(tmp_path, data):
    snn = converted(data)
    write_nir(tmp_path / "a.nir", snn)
    back, _ = read_nir(tmp_path / "a.nir")
    # the imported layers read unit spikes: the weights are the file's, W·θ
    assert all(isinstance(back.connection(n).ops[0], UnitSpikes) for n in back.layer_names[1:])
    write_nir(tmp_path / "b.nir", back)
    with h5py.File(tmp_path / "a.nir") as fa, h5py.File(tmp_path / "b.nir") as fb:
        for key in fa["node/nodes"]:
            for field in ("weight", "bias", "v_threshold"):
                if field in fa[f"node/nodes/{key}"]:
                    a, b = fa[f"node/nodes/{key}/{field}"][()], fb[f"node/nodes/{key}/{field}"][()]
                    np.testing.assert_array_equal(a, b)
    # the folded products are rounded once more than W·(θ·s): predictions still agree
    a, b = run(back, data, delay="none"), run(snn, data, delay="none")
    assert (a.predictions == b.predictions).float().mean() >= 0.9


def nirtorch_outputs(path, x, steps, **kw):
    module, state, outs = build(path, **kw), None, []
    with torch.no_grad():
        for _ in range(steps):
            out, state = module(x, state) if state is not None else module(x)
            outs.append(out)
    return torch.stack(outs)


def neurosnn_outputs(snn, x, steps):
    from neurosnn.simulation.engine import run_blocks

    theta, phi = torch.tensor(snn.thresholds), torch.tensor(snn.phi)
    blocks = run_blocks(
        snn, x, steps, theta.expand(len(x), -1), phi=phi.expand(len(x), -1), delay="none"
    )
    return torch.cat([b.output.clone() for b in blocks])


@pytest.mark.parametrize("fold", [False, True])
def test_nirtorch_runs_the_file_as_neurosnn_does(tmp_path, data, fold):
    snn = converted(data, phi=0.5)
    path = write_nir(tmp_path / "a.nir", snn, fold=fold)
    x = next(iter(data.test.batches(40)))[0]
    ours = neurosnn_outputs(read_nir(path)[0], x, T)  # neurosnn on the file
    theirs = nirtorch_outputs(path, x, T)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)
    original = neurosnn_outputs(snn, x, T)  # and on the SNN that was exported
    if fold:  # W·θ rounds once more: the same answers, not the same potentials
        assert (theirs.argmax(-1) == original.argmax(-1)).float().mean() >= 0.9
    else:
        torch.testing.assert_close(theirs, original, rtol=1e-5, atol=1e-5)
    # NIR's own IF (reset to v_reset, fire on >) is another network
    assert not torch.allclose(nirtorch_outputs(path, x, T, reset="zero", inclusive=False), ours)


def test_a_wrong_threshold_in_the_file_changes_the_outputs(tmp_path, data):
    snn = converted(data)
    path = write_nir(tmp_path / "a.nir", snn, fold=False)
    x = next(iter(data.test.batches(40)))[0]
    ours = neurosnn_outputs(snn, x, T)
    with h5py.File(path, "r+") as f:  # one IF layer's threshold mis-mapped (and its Scale)
        name = snn.if_names[1]
        f[f"node/nodes/{name}/v_threshold"][...] *= 1.5
        f[f"node/nodes/{snn.layer_names[2]}.scale/scale"][...] *= 1.5
    wrong = nirtorch_outputs(path, x, T)
    assert (wrong - ours).abs().max() > 1e-2


def test_compare_reports_agreement_per_step(tmp_path, data):
    snn = converted(data, phi=0.5)
    path = write_nir(tmp_path / "a.nir", snn)
    curves = compare(path, data.test.batches(16), T, original=snn)
    assert len(curves["same"]) == T and min(curves["same"]) == 1.0  # the same arithmetic
    assert min(curves["same_as_original"]) >= 0.9  # W·θ rounds once more
    reference = run(snn, data, delay="none").accuracy.tolist()
    assert curves["original"] == pytest.approx(reference, abs=1e-12)
    assert max(abs(a - b) for a, b in zip(curves["neurosnn"], reference, strict=True)) <= 0.1


def test_max_pooling_is_refused_naming_the_layer(data):
    snn = converted(data, pool="max")
    with pytest.raises(NIRError, match=r"layer features\.\d+: spike max pooling"):
        to_nir(snn)


def test_broken_and_foreign_files_name_the_file(tmp_path, data):
    path = write_nir(tmp_path / "a.nir", converted(data))
    cut = tmp_path / "cut.nir"
    cut.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(NIRError, match="cut.nir"):
        read_nir(cut)
    text = tmp_path / "notes.nir"
    text.write_text("not a NIR file")
    with pytest.raises(NIRError, match="notes.nir"):
        read_nir(text)


def test_graphs_neurosnn_cannot_run_are_refused(data):
    graph = to_nir(converted(data))
    first_if = next(k for k, n in graph.nodes.items() if isinstance(n, nir.IF))
    graph.nodes[first_if].v_threshold[0] += 1.0
    with pytest.raises(NIRError, match=f"node {first_if}: v_threshold must be one value"):
        from_nir(graph)
    graph = to_nir(converted(data))
    graph.edges.append(("input", graph.edges[-1][1]))
    with pytest.raises(NIRError, match="Output must be fed by the output integrator alone"):
        from_nir(graph)
    graph = to_nir(converted(data))
    conv = next(k for k in graph.nodes if k.endswith(".conv"))
    graph.edges.append(("input", conv))
    with pytest.raises(NIRError, match=f"node {conv} has 2 inputs; .* only neuron nodes"):
        from_nir(graph)


def test_export_cli_writes_a_file_that_reads_back(tmp_path, data):
    from neurosnn.experiments import export
    from neurosnn.io.snnfile import save_snn

    model = tiny_vgg()
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8), phi=0.5)
    saved = save_snn(tmp_path / "a.snn.h5", snn, {"dataset": "synthetic"})
    assert export.main(["--snn", str(saved), "--nir", str(tmp_path / "a.nir"), "--no-fold"]) == 0
    back, info = read_nir(tmp_path / "a.nir")
    assert back.thresholds == snn.thresholds and back.phi == snn.phi
    assert info["source"]["dataset"] == "synthetic"
    assert info["source"]["exported_from"] == str(saved)
    assert json.loads(json.dumps(info["semantics"]))["fires_on"].startswith("v >=")


@pytest.mark.slow
def test_a_nir_file_simulates_records_and_inspects_like_the_saved_snn(tmp_path):
    from neurosnn.analysis.inspect import report
    from neurosnn.experiments import convert as convert_cli
    from neurosnn.experiments import export
    from neurosnn.io.record import read_run
    from tests.test_experiments import train_synthetic

    train_synthetic(tmp_path / "ann")
    common = ["--timesteps", "12", "--test-images", "24", "--no-progress"]
    first = tmp_path / "a.h5"
    assert (
        convert_cli.main(["--checkpoint", str(tmp_path / "ann"), *common, "--out", str(first)]) == 0
    )
    assert export.main(["--snn", str(tmp_path / "a.snn.h5"), "--nir", str(tmp_path / "a.nir")]) == 0
    again = tmp_path / "b.h5"
    assert convert_cli.main(["--snn", str(tmp_path / "a.nir"), *common, "--out", str(again)]) == 0
    a, b = read_run(first), read_run(again)
    assert b.metadata["dataset"] == a.metadata["dataset"]
    assert b.metadata["test_indices"] == a.metadata["test_indices"]
    # the folded file answers as the SNN it came from (delay "layer" here, as recorded)
    assert np.mean(a.predictions == b.predictions) >= 0.9
    assert "a.nir" in report(b)


class Normalising(torch.nn.Module):
    """A model that normalises its own input before a padded convolution (the shift cannot
    fold into the convolution: its zero padding would be shifted too)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 4 * 4, 4)

    def forward(self, x):
        x = (x - 0.3) / 0.2
        x = torch.nn.functional.avg_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


@pytest.mark.parametrize("fold", [False, True])
def test_an_input_normalisation_inside_the_model_exports_as_a_1x1_convolution(tmp_path, data, fold):
    snn = convert(Normalising().eval(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    path = write_nir(tmp_path / "n.nir", snn, fold=fold)
    graph = nir.read(path)
    shift = graph.nodes["conv.shift"]
    assert isinstance(shift, nir.Conv2d) and shift.weight.shape == (1, 1, 1, 1)
    np.testing.assert_allclose(shift.weight.ravel(), [1 / 0.2], rtol=1e-6)
    np.testing.assert_allclose(shift.bias, [-0.3 / 0.2], rtol=1e-6)
    x = next(iter(data.test.batches(40)))[0]
    ours = neurosnn_outputs(snn, x, T)
    torch.testing.assert_close(
        neurosnn_outputs(read_nir(path)[0], x, T), ours, rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(nirtorch_outputs(path, x, T), ours, rtol=1e-4, atol=1e-4)
