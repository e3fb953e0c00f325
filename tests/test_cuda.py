"""The CUDA paths on a GPU: the fast engine on ``cuda`` against bindsnet's ``Network.run`` on
``cuda``, grouped thresholds, the torch spike packer. Skipped without CUDA; run by
``scripts/gpu_check.sh`` (with the compiled Triton scan of tests/test_ifscan.py).

TF32 is switched off: with it cuDNN's float32 convolutions round differently for different
batch shapes, and the fast engine convolves τ·B maps where bindsnet convolves B."""

import numpy as np
import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.simulation.run import pack_spikes_torch, simulate, simulate_groups
from neurosnn.simulation.tf32 import tf32
from tests.conftest import tiny_vgg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True)
def exact_float32():
    with tf32(False):
        yield


def on_cuda(data, pool):
    snn = convert(
        tiny_vgg(pool=pool), [x for x, _ in data.train.batches(64)], (1, 8, 8), device="cuda"
    )
    snn.set_thresholds([t * f for t, f in zip(snn.thresholds, (0.5, 0.8, 1.3, 0.7), strict=True)])
    return snn


@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize(
    "delay,phi,onset", [("layer", 0.0, "always"), ("none", 0.0, "always"), ("layer", 0.5, "input")]
)
@pytest.mark.parametrize("time_block", [1, 5, None])
def test_fast_engine_on_cuda_matches_bindsnet_on_cuda(data, pool, delay, phi, onset, time_block):
    snn = on_cuda(data, pool)
    snn.set_phi(phi)
    kw = {"delay": delay, "bias_onset": onset}
    ref = simulate(snn, data.test.batches(16), 24, engine="reference", **kw)
    fast = simulate(snn, data.test.batches(16), 24, engine="fast", time_block=time_block, **kw)
    assert torch.equal(fast.correct, ref.correct)
    for name in snn.if_names:  # which layer and step differ first, for the next GPU session
        differ = (fast.spike_counts[name] != ref.spike_counts[name]).nonzero().flatten()
        assert len(differ) == 0, f"{name}: spike counts differ from step {differ.tolist()}"


def test_grouped_thresholds_on_cuda_equal_separate_runs(data):
    snn = on_cuda(data, "avg")
    base = torch.tensor(snn.thresholds)
    candidates = torch.stack([base * f for f in (1.0, 0.6, 1.4)])
    x, y = next(data.test.batches(48))  # the whole test split (40 images)
    g = torch.arange(len(y)) % 3
    grouped = simulate_groups(snn, [(x, y, g)], candidates, 20)
    for k in range(3):
        snn.set_thresholds(candidates[k].tolist())
        alone = simulate(snn, [(x[g == k], y[g == k])], 20)
        assert torch.equal(grouped.correct[k].cpu(), alone.correct.cpu())


def test_torch_packer_on_cuda_matches_numpy():
    s = torch.rand(4, 7, 37, device="cuda") > 0.5
    assert np.array_equal(pack_spikes_torch(s).cpu().numpy(), np.packbits(s.cpu().numpy(), -1))
