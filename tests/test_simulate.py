import numpy as np
import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.simulation.engine import fast as fast_engine
from neurosnn.simulation.engine import ifscan_triton
from neurosnn.simulation.engine.ifscan import IMPLS
from neurosnn.simulation.run import pack_spikes, pack_spikes_torch, simulate, simulate_groups
from tests.conftest import tiny_vgg

# the engine on CPU tensors with the Triton scan: only where the kernel runs interpreted (on a GPU
# test_ifscan runs it compiled)
TRITON = pytest.mark.skipif(not ifscan_triton.interpreted(), reason="triton is not interpreted")


def converted(data, pool="avg"):
    model = tiny_vgg(pool=pool)
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8), percentile=99.7)
    # non-default thresholds, different per layer
    snn.set_thresholds([t * f for t, f in zip(snn.thresholds, (0.5, 0.8, 1.3, 0.7), strict=True)])
    return snn


def run(snn, data, engine, **kw):
    trains = {}

    def sink(layer, first, packed, shape):
        trains.setdefault(layer, []).append((first, packed.clone()))

    result = simulate(
        snn, data.test.batches(16), 24, engine=engine, record_spikes=20, spike_sink=sink, **kw
    )
    return result, trains


@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize("delay", ["layer", "none"])
@pytest.mark.parametrize("encoding", ["current", "bernoulli", "poisson"])
def test_fast_engine_matches_bindsnet_spike_for_spike(data, pool, delay, encoding):
    snn = converted(data, pool)
    ref, ref_trains = run(snn, data, "reference", delay=delay, encoding=encoding, seed=3)
    assert ref.n_images == 40  # batches of 16, 16 and a short 8
    # τ = 1 is a step loop, 5 leaves a short last block (24 = 4·5 + 4), None is one block of T
    for time_block in (1, 5, None):
        fast, fast_trains = run(
            snn, data, "fast", delay=delay, encoding=encoding, seed=3, time_block=time_block
        )
        assert torch.equal(fast.correct, ref.correct)
        assert torch.equal(fast.predictions, ref.predictions)
        for name in snn.if_names:
            assert torch.equal(fast.spike_counts[name], ref.spike_counts[name])
            assert fast.spike_counts[name].sum() > 0
            assert [f for f, _ in fast_trains[name]] == [0, 16]  # first 20 images: 16 + 4
            for (_, a), (_, b) in zip(fast_trains[name], ref_trains[name], strict=True):
                assert torch.equal(a, b)


@pytest.mark.parametrize(
    "scan, pool, delay",
    [("torch", p, d) for p in ("avg", "max") for d in ("layer", "none")]
    # interpreted Triton takes ~5 s a case: both pools and both timings, in two cases
    + [pytest.param("triton", "avg", "layer", marks=TRITON)]
    + [pytest.param("triton", "max", "none", marks=TRITON)],
)
def test_engine_with_the_other_scans_matches_bindsnet(data, monkeypatch, scan, pool, delay):
    # the scans CUDA runs (Triton, or the torch loop without it), here on CPU tensors: the
    # Triton kernel's source in Triton's interpreter (tests/conftest.py)
    snn = converted(data, pool)
    ref, _ = run(snn, data, "reference", delay=delay)
    monkeypatch.setattr(fast_engine, "if_scan_", IMPLS[scan])
    fast, _ = run(snn, data, "fast", delay=delay, time_block=5)
    assert torch.equal(fast.predictions, ref.predictions)
    for name in snn.if_names:
        assert torch.equal(fast.spike_counts[name], ref.spike_counts[name])


def test_layer_delay_shifts_the_first_output(data):
    snn = converted(data)
    depth = len(snn.layer_names)
    counts = simulate(snn, data.test.batches(40), 10, delay="layer").spike_counts
    for i, name in enumerate(snn.if_names):
        # layer i receives its first non-trivial input at step i + 1 (1-based)
        assert counts[name][:i].sum() == 0
    none = simulate(snn, data.test.batches(40), 10, delay="none").spike_counts
    assert none[snn.if_names[-1]][0] >= 0 and depth == 5


def test_callers_tensors_are_not_modified(data):
    snn = converted(data)
    x, y = next(data.test.batches(12))
    x0, y0 = x.clone(), y.clone()
    for engine in ("fast", "reference"):
        simulate(snn, [(x, y)], 8, engine=engine)
        assert torch.equal(x, x0) and torch.equal(y, y0)


def test_results_do_not_depend_on_batching(data):
    snn = converted(data)
    a = simulate(snn, data.test.batches(40), 16)
    b = simulate(snn, data.test.batches(7), 16)
    assert torch.equal(a.correct, b.correct)
    for name in snn.if_names:
        assert torch.equal(a.spike_counts[name], b.spike_counts[name])


@pytest.mark.parametrize("delay", ["layer", "none"])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_grouped_thresholds_equal_separate_runs(data, delay, pool):
    snn = converted(data, pool)
    base = torch.tensor(snn.thresholds)
    candidates = torch.stack([base * f for f in (1.0, 0.6, 1.4)])  # [G, layers]
    x, y = next(data.test.batches(40))
    g = torch.arange(40) % 3  # every batch mixes the three candidates
    grouped = simulate_groups(
        snn,
        [(x[i : i + 16], y[i : i + 16], g[i : i + 16]) for i in (0, 16, 32)],
        candidates,
        20,
        delay=delay,
    )
    assert grouped.n_images.tolist() == [14, 13, 13]
    for k in range(3):
        snn.set_thresholds(candidates[k].tolist())
        alone = simulate(snn, [(x[g == k], y[g == k])], 20, delay=delay)
        assert torch.equal(grouped.correct[k], alone.correct)
        assert torch.equal(grouped.accuracy[k], alone.accuracy)
        for name in snn.if_names:
            assert torch.equal(grouped.spike_counts[name][k], alone.spike_counts[name])
    assert not torch.equal(
        grouped.spike_counts[snn.if_names[0]][1], grouped.spike_counts[snn.if_names[0]][2]
    )


def test_grouped_bad_arguments(data):
    snn = converted(data)
    x, y = next(data.test.batches(4))
    with pytest.raises(ValueError, match=r"thresholds must be \[groups, 4\]"):
        simulate_groups(snn, [(x, y, torch.zeros(4, dtype=torch.long))], torch.ones(2, 3), 5)
    with pytest.raises(ValueError, match="group indices"):
        simulate_groups(snn, [(x, y, torch.full((4,), 2))], torch.ones(2, 4), 5)
    with pytest.raises(ValueError, match="finite and > 0"):
        simulate_groups(snn, [(x, y, torch.zeros(4, dtype=torch.long))], -torch.ones(1, 4), 5)


def test_bad_arguments(data):
    snn = converted(data)
    wrong = [(torch.zeros(2, 1, 9, 9), torch.zeros(2, dtype=torch.long))]
    with pytest.raises(ValueError, match=r"sample shape \(1, 9, 9\).*expects \(1, 8, 8\)"):
        simulate(snn, wrong, 4)
    with pytest.raises(ValueError, match="engine"):
        simulate(snn, data.test.batches(8), 4, engine="turbo")
    with pytest.raises(ValueError, match="timesteps"):
        simulate(snn, data.test.batches(8), 0)
    with pytest.raises(ValueError, match="time_block"):
        simulate(snn, data.test.batches(8), 4, time_block=0)
    with pytest.raises(ValueError, match="spike_sink"):
        simulate(snn, data.test.batches(8), 4, record_spikes=2)
    with pytest.raises(ValueError, match="unknown layers"):
        simulate(snn, data.test.batches(8), 4, record_layers=["features.99"])


@pytest.mark.parametrize("pack", [pack_spikes, pack_spikes_torch])
def test_pack_spikes_matches_numpy_packbits(pack):
    s = torch.rand(3, 5, 21) > 0.5
    expected = np.packbits(s.numpy(), axis=-1)
    assert np.array_equal(pack(s).numpy(), expected)


def test_accuracy_curve_and_rates_are_consistent(data):
    snn = converted(data)
    r = simulate(snn, data.test.batches(16), 30)
    assert r.accuracy.shape == (30,)
    assert float(r.accuracy[-1]) == float((r.predictions == r.labels).double().mean())
    rates = r.firing_rates()
    assert set(rates) == set(snn.if_names) and all(0 < v <= 1 for v in rates.values())


def test_no_answer_before_the_output_receives_input(data):
    model = tiny_vgg(batch_norm=False, bias=False)
    snn = convert(model, [x for x, _ in data.train.batches(64)], (1, 8, 8))
    r = simulate(snn, data.test.batches(40), 12, delay="layer")
    depth = len(snn.layer_names)
    # without biases the output is silent until spikes have crossed every layer
    assert r.correct[: depth - 1].sum() == 0
    assert r.correct[-1] > 0


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_bf16_connections_stay_close_to_fp32(data, pool):
    """Reduced precision: bf16 connections, float32 membranes. Not spike-identical, but the
    currents are within bf16 rounding and the predictions nearly all agree."""
    from neurosnn.simulation.engine.fast import _Edge

    snn = converted(data, pool)
    x = next(iter(data.test.batches(16)))[0]
    first = snn.connection(snn.layer_names[0])
    exact = _Edge("input", first, bf16=False).currents(x.unsqueeze(0))
    low = _Edge("input", first, bf16=True).currents(x.unsqueeze(0))
    assert low.dtype == torch.float32 and not torch.equal(low, exact)
    torch.testing.assert_close(low, exact, rtol=0, atol=2**-6 * float(exact.abs().max()))
    fp32 = simulate(snn, data.test.batches(20), 40)
    bf16 = simulate(snn, data.test.batches(20), 40, precision="bf16")
    assert (fp32.predictions == bf16.predictions).float().mean() >= 0.9
    assert (fp32.accuracy - bf16.accuracy).abs().max() <= 0.1
    with pytest.raises(ValueError, match="precision"):
        simulate(snn, data.test.batches(20), 4, precision="fp8")
    with pytest.raises(ValueError, match="engine='fast'"):
        simulate(snn, data.test.batches(20), 4, engine="reference", precision="bf16")


def test_cuda_time_blocks_come_from_this_process_share(monkeypatch):
    # on CUDA, τ is sized from a quarter of what this process may still take: the free
    # memory plus its allocator's unused cache, within its --gpu-memory share (CUDA's
    # functions stood in for, so this runs without a GPU)
    from types import SimpleNamespace

    from neurosnn.simulation.engine import auto_time_block
    from neurosnn.simulation.engine.fast import cuda_usable_bytes

    MiB = 2**20
    cuda = torch.cuda
    monkeypatch.setattr(cuda, "mem_get_info", lambda d: (100 * MiB, 200 * MiB))
    monkeypatch.setattr(cuda, "memory_reserved", lambda d: 30 * MiB)
    monkeypatch.setattr(cuda, "memory_allocated", lambda d: 10 * MiB)
    monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda d: 1.0, raising=False)
    gpu = torch.device("cuda:0")
    assert cuda_usable_bytes(gpu) == 120 * MiB  # free 100 + unused cache 20
    monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda d: 0.25)
    assert cuda_usable_bytes(gpu) == 40 * MiB  # its share 50, 10 of it taken
    monkeypatch.delattr(cuda, "get_per_process_memory_fraction")  # an older torch
    assert cuda_usable_bytes(gpu) == 120 * MiB
    monkeypatch.setattr(cuda, "mem_get_info", lambda d: (0, 200 * MiB))
    monkeypatch.setattr(cuda, "memory_reserved", lambda d: 10 * MiB)
    assert cuda_usable_bytes(gpu) == 0

    layers = {"a": SimpleNamespace(n=1000), "b": SimpleNamespace(n=24)}
    snn = SimpleNamespace(device=gpu, if_names=["a"], layer_names=["a", "b"], layer=layers.get)
    per_step = 4 * 4 * (1000 + 2 * 1000)  # batch 4, float32: spikes plus two widest layers
    monkeypatch.setattr(cuda, "get_per_process_memory_fraction", lambda d: 1.0, raising=False)
    monkeypatch.setattr(cuda, "mem_get_info", lambda d: (40 * per_step, 200 * MiB))
    monkeypatch.setattr(cuda, "memory_reserved", lambda d: 10 * MiB)
    monkeypatch.setattr(cuda, "memory_allocated", lambda d: 10 * MiB)
    assert auto_time_block(snn, 4, 100) == 10  # a quarter of 40 steps' worth
    assert auto_time_block(snn, 4, 6) == 6
    monkeypatch.setattr(cuda, "mem_get_info", lambda d: (0, 200 * MiB))
    assert auto_time_block(snn, 4, 100) == 1  # never below one step
