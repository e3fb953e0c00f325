import numpy as np
import pytest
import torch

from neurosnn.conversion import convert
from neurosnn.measures.significance import (
    Significance,
    components_for_ratio,
    correlation,
    layer_significance,
)
from tests.conftest import tiny_vgg


def test_components_for_ratio_by_hand():
    ev = np.array([1.0, 6.0, 3.0])  # sorted: 6, 3, 1 → cumulative 0.6, 0.9, 1.0
    assert components_for_ratio(ev, 0.6) == 1
    assert components_for_ratio(ev, 0.85) == 2
    assert components_for_ratio(ev, 0.95) == 3
    assert components_for_ratio(np.zeros(3), 0.9) == 0
    with pytest.raises(ValueError, match="ratio"):
        components_for_ratio(ev, 1.5)


def test_streamed_components_match_svd(data):
    snn = convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8))
    batches = [x for x, _ in data.train.batches(50)]
    sig = layer_significance(snn, batches, ratio=0.99)
    # reference: one SVD of the centred K×F matrix of the first layer's pre-activations
    pre = snn.connection("features.0").ops(torch.cat(batches)).double()
    q = pre.permute(0, 2, 3, 1).reshape(-1, pre.shape[1])
    s = torch.linalg.svdvals(q - q.mean(0))
    assert sig.components[0] == components_for_ratio((s**2).numpy(), 0.99)
    assert sig.input_components == 1  # one input channel
    assert len(sig.components) == 4 and all(1 <= k for k in sig.components)


def test_percent_change_and_correlation():
    sig = Significance(["a", "b", "c"], [4, 6, 3], input_components=2, ratio=0.999)
    assert sig.percent_change == pytest.approx([100.0, 50.0, -50.0])
    assert correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert np.isnan(correlation([1, 1, 1], [1, 2, 3]))
