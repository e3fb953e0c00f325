import pytest
import torch

from neurosnn.simulation.engine import ifscan_triton
from neurosnn.simulation.engine.ifscan import if_scan
from neurosnn.snn.neurons import IFState, if_step

# without a GPU the Triton kernel runs on CPU tensors in Triton's interpreter (conftest.py): the
# same kernel source as CUDA; with one it runs compiled, on CUDA tensors
TRITON_DEVICE = "cpu" if ifscan_triton.interpreted() else "cuda"
TRITON = pytest.param(
    "triton",
    marks=pytest.mark.skipif(
        not ifscan_triton.available() or TRITON_DEVICE == "cuda" and not torch.cuda.is_available(),
        reason="no triton, or neither its interpreter nor a GPU",
    ),
)
SCANS = ["torch", "numba", TRITON]


def scan_on_its_device(scan, currents, v, theta, out, first=None, shift=False):
    """:func:`if_scan` with the tensors on the device the scan runs on; results on the CPU."""
    device = TRITON_DEVICE if scan == "triton" else "cpu"
    moved = [None if x is None else x.to(device) for x in (currents, v, theta, out, first)]
    v_end, counts = if_scan(*moved[:4], moved[4], shift, impl=scan)
    out.copy_(moved[3])
    return v_end.cpu(), counts.cpu()


def step_reference(currents, v, theta, steps, first=None, shift=False):
    """The scan written as T calls of the step function (threshold-valued spikes)."""
    out = []
    state = IFState(v.clone())
    th = theta.view(-1, 1)
    for t in range(steps):
        r = 0 if len(currents) == 1 else t - int(shift)  # one row: a constant current
        row = first if shift and t == 0 else currents[r]
        s, state = if_step(row, state, th)
        out.append(s * th)
    return torch.stack(out), state.v


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("constant", [False, True])
def test_scan_equals_step_function(scan, shift, constant):
    g = torch.Generator().manual_seed(0)
    tau, batch, n = 9, 3, 5000  # several numba tasks (and Triton programs) per sample
    currents = torch.randn(1 if constant else tau, batch, n, generator=g) * 0.7
    v = torch.rand(batch, n, generator=g) - 0.5
    theta = torch.tensor([0.5, 1.0, 1.7])
    first = torch.randn(batch, n, generator=g)
    c0 = currents.clone()
    out = torch.empty(tau, batch, n)
    v0 = v.clone()
    v_end, counts = scan_on_its_device(scan, currents, v, theta, out, first, shift)
    expected, v_ref = step_reference(currents, v, theta, tau, first, shift)
    assert torch.equal(out, expected) and torch.equal(v_end, v_ref)
    assert torch.equal(counts, out.ne(0).sum(-1))
    assert torch.equal(currents, c0) and torch.equal(v, v0)  # arguments are never written


@pytest.mark.parametrize("scan", SCANS)
def test_constant_current_fires_floor_t_c_over_vth(scan):
    # binary fractions avoid float ties: c/vth is exact
    c = torch.tensor([[0.375, 0.5, 0.125, 1.0, 0.0]])
    theta = torch.tensor([1.0])
    out = torch.empty(64, 1, 5)
    # a current block of length 1 is constant
    scan_on_its_device(scan, c.unsqueeze(0), torch.zeros(1, 5), theta, out)
    fired = (out / theta).cumsum(0)[:, 0]
    t = torch.arange(1, 65, dtype=torch.float32).unsqueeze(1)
    assert torch.equal(fired, torch.floor(t * c / theta))


def test_dispatch_uses_torch_for_other_dtypes():
    currents = torch.full((4, 1, 3), 0.5, dtype=torch.float64)
    out = torch.empty_like(currents)
    v, counts = if_scan(
        currents, torch.zeros(1, 3, dtype=torch.float64), torch.ones(1).double(), out
    )
    assert counts.tolist() == [[0], [3], [0], [3]] and out.dtype == torch.float64


def test_numba_refuses_what_it_cannot_run():
    currents = torch.ones(2, 1, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="numba scan needs"):
        if_scan(
            currents,
            torch.zeros(1, 3).double(),
            torch.ones(1).double(),
            torch.empty_like(currents),
            impl="numba",
        )
    with pytest.raises(ValueError, match="impl must be"):
        if_scan(currents, torch.zeros(1, 3), torch.ones(1), torch.empty(2, 1, 3), impl="cuda")
