"""Shared, function-scoped fixtures: tiny networks and synthetic data, no downloads."""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    # no GPU: the Triton scan's kernel source runs in Triton's interpreter on CPU tensors (read
    # when the kernel is defined, so before neurosnn is imported)
    os.environ.setdefault("TRITON_INTERPRET", "1")

from neurosnn.io.data import synthetic  # noqa: E402
from neurosnn.networks import create_network  # noqa: E402


@pytest.fixture
def data():
    return synthetic(n_train=256, n_test=40, num_classes=4, in_channels=1, input_size=8, seed=0)


def tiny_vgg(pool: str = "avg", batch_norm: bool = True, bias: bool = True, seed: int = 0):
    """A 3-conv, 2-FC VGG5 on 1×8×8 inputs with non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    model = create_network(
        "vgg5",
        num_classes=4,
        in_channels=1,
        input_size=8,
        width=0.125,
        pool=pool,
        batch_norm=batch_norm,
        bias=bias,
    )
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return model.eval()


@pytest.fixture
def model():
    return tiny_vgg()


class CodePayload:
    """Pickles as a call of ``os.system`` that creates ``marker``: what a crafted file holds.
    A safe loader refuses it, so the marker never appears."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def kept(monkeypatch):
    """The figures the plots make, kept open (they close each one after saving)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    yield figures
    monkeypatch.undo()
    plt.close("all")
