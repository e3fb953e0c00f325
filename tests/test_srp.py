"""SRP (Hao et al., AAAI 2023): τ pre-simulation steps, then a fresh run with the neurons whose
residual potential is not above zero silenced; the τ steps count in the curve."""

import json

import numpy as np
import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.errors import UserError
from neurosnn.simulation.run import simulate
from neurosnn.snn.network import INPUT
from tests.conftest import tiny_vgg
from tests.test_graph_engine import resnet_snn


def avg_chain():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    return convert(tiny_vgg(pool="avg"), [x], (1, 8, 8), phi=0.5), x[:12]


def srp_by_hand(snn, x, timesteps, presim):
    """The authors' ``MPLayer`` step by step without the layer delay: after step τ each IF
    neuron's mask is ``v > 1e-3·θ`` and every potential starts again from ``φ·θ``; from then on
    a neuron's spikes are multiplied by its mask (it still integrates and fires inside). Returns
    the output potential read from the second phase ``[T, B, C]`` (zero for steps ≤ τ) and
    each IF layer's spikes per step ``[T]`` (the masked ones not counted)."""

    def start():
        return {
            n: snn.layer(n).initial_v().expand(len(x), *snn.layer(n).shape).clone()
            for n in snn.layer_names
        }

    v, mask = start(), {}
    outputs, counts = [], {n: [] for n in snn.if_names}
    for t in range(timesteps):
        if t == presim and presim:
            mask = {n: (v[n] > 1e-3 * snn.layer(n).thresh).float() for n in snn.if_names}
            v = start()
        out = {INPUT: x}
        for n in snn.layer_names:
            current = None
            for source, conn in snn.incoming(n):
                c = conn.ops(out[source])
                current = c if current is None else current + c
            v[n] = v[n] + current.view_as(v[n])
            if n == snn.output_name:
                outputs.append(v[n].clone() if t >= presim else torch.zeros_like(v[n]))
                continue
            theta = snn.layer(n).thresh
            s = (v[n] >= theta).float()
            v[n] = v[n] - s * theta
            s = s * mask.get(n, 1.0)
            counts[n].append(s.sum())
            out[n] = s * theta  # a spike stands for θ (Eq. 6)
    return torch.stack(outputs), {n: torch.stack(c) for n, c in counts.items()}


def right_per_step(outputs, labels):
    return ((outputs.argmax(-1) == labels) & outputs.ne(0).any(-1)).sum(1)


@pytest.mark.parametrize("presim", [0, 1, 4])
def test_srp_is_the_authors_masked_second_phase(presim):
    snn, x = avg_chain()
    want, counts = srp_by_hand(snn, x, 16, presim)
    labels = want[-1].argmax(1)
    labels[::4] = (labels[::4] + 1) % want.shape[-1]  # some images wrong at the end
    for engine, block in (("fast", None), ("fast", 3), ("fast", 1), ("reference", None)):
        run = simulate(
            snn, [(x, labels)], 16, delay="none", presim=presim, engine=engine, time_block=block
        )
        assert torch.equal(run.correct, right_per_step(want, labels))
        assert torch.equal(run.predictions, want[-1].argmax(1))
        for n in snn.if_names:
            assert torch.equal(run.spike_counts[n], counts[n].long())
    assert run.correct[:presim].sum() == 0 and run.config["presim"] == presim
    if presim == 4:  # the mask acts: some neuron fired in the first phase and is silenced
        plain = simulate(snn, [(x, labels)], 16, delay="none")
        assert any(
            not torch.equal(plain.spike_counts[n][presim:], run.spike_counts[n][presim:])
            for n in snn.if_names
        )


@pytest.mark.parametrize("delay", ["none", "layer"])
@pytest.mark.parametrize("onset", ["always", "input"])
def test_srp_is_spike_exact_between_engines_on_a_resnet(delay, onset):
    snn, x = resnet_snn(phi=0.5, channelwise=True)
    labels = torch.zeros(len(x), dtype=torch.long)
    ref = simulate(
        snn, [(x, labels)], 20, delay=delay, bias_onset=onset, presim=6, engine="reference"
    )
    assert sum(int(c[6:].sum()) for c in ref.spike_counts.values()) > 0
    for block in (None, 4, 1):
        fast = simulate(
            snn, [(x, labels)], 20, delay=delay, bias_onset=onset, presim=6, time_block=block
        )
        assert torch.equal(fast.correct, ref.correct)
        assert torch.equal(fast.predictions, ref.predictions)
        for n in snn.if_names:
            assert torch.equal(fast.spike_counts[n], ref.spike_counts[n])


def test_a_silenced_neuron_is_the_one_left_below_the_margin():
    from neurosnn.simulation.srp import MARGIN, silenced

    theta = torch.tensor([2.0, 1.0])
    v = torch.tensor([[-1.0, 0.0, 2e-3, 2.5e-3], [-1.0, 0.0, 5e-4, 2e-3]])
    assert silenced(v, theta).tolist() == [[True, True, True, False], [True, True, True, False]]
    assert MARGIN == 1e-3


@pytest.mark.parametrize(
    ("presim", "said"),
    [(-1, ">= 0, got -1"), (1.5, ">= 0, got 1.5"), (16, r"in \[0, T\) = \[0, 16\), got 16")],
)
def test_a_presimulation_past_t_or_not_a_count_is_refused(presim, said):
    snn, x = avg_chain()
    with pytest.raises(UserError, match="presim must be an integer " + said):
        simulate(snn, [(x, torch.zeros(len(x), dtype=torch.long))], 16, presim=presim)
    if presim != 16:
        with pytest.raises(UserError, match="presim must be an integer " + said):
            snn.as_module("none", presim=presim)


@pytest.mark.parametrize("net", ["resnet", "chain"])
def test_the_torch_module_steps_srp_as_simulate_runs_it(net):
    snn, x = resnet_snn(phi=0.5) if net == "resnet" else avg_chain()
    ref = simulate(
        snn,
        [(x, torch.zeros(len(x), dtype=torch.long))],
        16,
        delay="none",
        presim=4,
        engine="reference",
    )
    module = snn.as_module("none", presim=4)
    outputs, counts = module.run(x, 16, spike_counts=True)
    assert outputs[:4].eq(0).all() and outputs[4:].ne(0).any()  # no answer during τ
    assert torch.equal(outputs[-1].argmax(1), ref.predictions)
    for name in snn.if_names:
        assert torch.equal(counts[name].sum(1), ref.spike_counts[name])
    assert not torch.equal(outputs, snn.as_module("none").run(x, 16))  # SRP silenced some
    module.reset()
    assert torch.equal(torch.stack([module(x) for _ in range(16)]), outputs)  # one step a call
    with pytest.raises(UserError, match=r"\[0, T\) = \[0, 4\), got 4"):
        module.run(x, 4)


def test_the_latency_job_counts_srps_steps_and_keeps_records_from_before(tmp_path, caplog):
    import h5py

    from neurosnn.io.data import synthetic
    from neurosnn.io.record import read_run
    from neurosnn.io.snnfile import load_snn
    from neurosnn.jobs.latency import LatencyConfig, measure_latency
    from tests.test_graph_engine import TinyResNet, init

    data = synthetic(n_train=128, n_test=32, num_classes=5, in_channels=2, input_size=8, seed=0)
    torch.manual_seed(0)
    model = init(TinyResNet())
    cfg = LatencyConfig(
        recipes=("all", "phi+channelwise+srp4"),
        timesteps=12,
        long_horizon=1,
        test_images=32,
        calib_images=128,
    )
    report = measure_latency(model, data, cfg, tmp_path, progress=False)
    run = read_run(tmp_path / "phi+channelwise+srp4.h5")
    assert run.simulation["presim"] == 4 and run.simulation["delay"] == "none"
    snn, meta = load_snn(tmp_path / "phi+channelwise+srp4.snn.h5")
    assert meta["source"]["simulation"] == {"delay": "none", "bias_onset": "always", "presim": 4}
    again = simulate(snn, data.test.batches(250), 12, delay="none", presim=4)  # all 32 images
    assert np.array_equal(run.accuracy, again.accuracy.numpy())
    assert (run.accuracy[:4] == 0).all()
    metrics = next(r.metrics for r in report.results if r.recipe == "phi+channelwise+srp4")
    assert metrics["steps_to_ann_minus_1pct_delay_none"] == metrics["steps_to_ann_minus_1pct"]
    # a record written before recipes had presim is kept (the setting at its default)
    with h5py.File(tmp_path / "all.h5", "r+") as f:
        config = json.loads(f.attrs["config"])
        del config["recipe"]["presim"]
        f.attrs["config"] = json.dumps(config)
    with caplog.at_level("INFO"):
        measure_latency(model, data, cfg, tmp_path, progress=False)
    assert "all: kept the finished record" in caplog.text


@pytest.mark.parametrize(
    "options",
    [{"presim": 4}, {"presim": 4, "delay": "none", "delayed": True}, {"presim": -1}],
)
def test_a_recipe_refuses_srp_where_it_does_not_apply(options):
    from neurosnn.jobs.latency import Recipe

    with pytest.raises(UserError, match="presim"):
        Recipe(**options)


def test_convert_runs_srp_and_refuses_a_presimulation_past_t(tmp_path):
    from neurosnn.experiments import convert
    from neurosnn.io.record import read_run
    from tests.test_experiments import train_synthetic

    train_synthetic(tmp_path / "ann")
    args = ["--checkpoint", str(tmp_path / "ann"), "--timesteps", "20", "--test-images", "32"]
    args += ["--no-progress", "--phi", "0.5", "--delay", "none", "--presim"]
    assert convert.main([*args, "3", "--out", str(tmp_path / "run.h5")]) == 0
    run = read_run(tmp_path / "run.h5")
    assert run.simulation["presim"] == 3 and run.config["presim"] == 3
    assert (run.accuracy[:3] == 0).all() and run.accuracy[-1] > 0.5  # a trained network
    with pytest.raises(SystemExit, match=r"presim must be in \[0, timesteps\) = \[0, 20\)"):
        convert.main([*args, "20", "--out", str(tmp_path / "bad.h5")])


@pytest.mark.parametrize("net", ["chain", "resnet"])
def test_each_groups_srp_curve_is_its_own_srp_simulation(net):
    from neurosnn.simulation.run import simulate_groups

    snn, x = avg_chain() if net == "chain" else resnet_snn(phi=0.5)
    torch.manual_seed(2)
    y = torch.randint(0, snn.layer(snn.output_name).n, (len(x),))
    base = torch.tensor(snn.thresholds)
    thresholds = torch.stack([base, base * 0.6])
    phi = torch.tensor([[0.5] * len(base), [0.3] * len(base)])
    g = torch.arange(len(x)) % 2
    grouped = simulate_groups(
        snn, [(x, y, g)], thresholds, 16, phi=phi, delay="none", time_block=3, presim=4
    )
    for group in range(2):
        snn.set_thresholds(thresholds[group].tolist())
        snn.set_phi(phi[group].tolist())
        alone = simulate(snn, [(x[g == group], y[g == group])], 16, delay="none", presim=4)
        assert torch.equal(grouped.correct[group], alone.correct)
        for n in snn.if_names:
            assert torch.equal(grouped.spike_counts[n][group], alone.spike_counts[n])


def test_the_srp_search_scores_and_records_srp(tmp_path):
    from neurosnn.io.record import read_run, read_search
    from tests.test_readout import tiny_latency_run

    name = "phi+channelwise+srp4+search"
    report = tiny_latency_run(tmp_path, (name,))
    record = read_search(tmp_path / f"{name}_search" / "search.h5")
    assert record["config"]["search"]["presim"] == 4
    assert record["config"]["search"]["delay"] == "none"
    run = read_run(tmp_path / f"{name}.h5")
    assert run.simulation["presim"] == 4 and (run.accuracy[:4] == 0).all()
    assert report.results[0].phi != [0.5] * len(report.results[0].phi)  # φ searched


def test_the_mask_measurement_counts_the_hand_masks_against_the_ann():
    from neurosnn.analysis.srp import mask_counts, pooled, table

    snn, x = avg_chain()
    v = {
        n: snn.layer(n).initial_v().expand(len(x), *snn.layer(n).shape).clone()
        for n in snn.layer_names
    }
    for _ in range(3):  # τ = 3 steps without the layer delay, every spike standing for θ
        out = {INPUT: x}
        for n in snn.layer_names:
            v[n] = v[n] + sum(conn.ops(out[s]) for s, conn in snn.incoming(n)).view_as(v[n])
            if n != snn.output_name:
                theta = snn.layer(n).thresh
                out[n] = (v[n] >= theta).float() * theta
                v[n] = v[n] - out[n]
    acts = {n: a.flatten(1) for n, _, a in snn.ann_forward(x)}
    counts = mask_counts(snn, x, 3)
    assert list(counts) == snn.if_names
    for n in snn.if_names:
        theta = float(snn.layer(n).thresh)
        mask, act = (v[n] <= 1e-3 * theta).flatten(1), acts[n]
        zero, c = act <= 0, counts[n]
        assert 0 < c.silenced < c.neurons == act.numel()
        assert c.silenced == int(mask.sum()) and c.zero == int(zero.sum())
        assert c.silenced_zero == int((mask & zero).sum())
        assert c.silenced_active == int((mask & ~zero).sum())
        assert c.lost_expected == pytest.approx(float(act.clamp(0, theta)[mask].sum()), rel=1e-5)
        shares = c.shares()
        assert shares["caught"] == pytest.approx(c.silenced_zero / c.zero)
        assert shares["lost"] == pytest.approx(c.silenced_active / (c.neurons - c.zero))
    every = pooled(counts)
    assert every.silenced_active == sum(c.silenced_active for c in counts.values())
    assert every.lost_expected == pytest.approx(sum(c.lost_expected for c in counts.values()))
    assert table(counts).splitlines()[-1].startswith("| all | ")
    with pytest.raises(UserError, match="presim must be >= 1"):
        mask_counts(snn, x, 0)


def test_the_mask_command_reads_tau_from_the_file_and_writes_every_layer(tmp_path, capsys):
    from neurosnn.analysis.srp import main
    from neurosnn.io.snnfile import save_snn

    snn, _ = avg_chain()
    plain, srp = tmp_path / "plain.snn.h5", tmp_path / "srp.snn.h5"
    save_snn(plain, snn, {"dataset": "synthetic"})
    save_snn(srp, snn, {"dataset": "synthetic", "simulation": {"presim": 2}})
    with pytest.raises(SystemExit, match="records no SRP presim; give --presim TAU"):
        main([str(plain)])
    main(
        [str(srp), str(plain), "--presim", "3", "--images", "16", "--out", str(tmp_path / "m.json")]
    )
    found = json.loads((tmp_path / "m.json").read_text())
    assert [v["presim"] for v in found.values()] == [3, 3]  # --presim wins over the file
    main([str(srp), "--images", "16", "--out", str(tmp_path / "m.json")])
    layers = json.loads((tmp_path / "m.json").read_text())[str(srp)]["layers"]
    assert set(layers) == {*snn.if_names, "all"} and all(
        v["counts"]["neurons"] > 0 for v in layers.values()
    )
    assert "(τ = 2, 16 test images)" in capsys.readouterr().out
