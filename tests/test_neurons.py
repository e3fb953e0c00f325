import torch

from neurosnn.snn.neurons import IFState, SubtractiveIFNodes, if_step


def test_constant_input_fires_floor_t_c_over_vth():
    # binary fractions avoid float ties: c/vth is exact
    c = torch.tensor([0.375, 0.5, 0.125, 1.0, 0.0])
    v_th = torch.tensor(1.0)
    state = IFState(torch.zeros(5))
    total = torch.zeros(5)
    for t in range(1, 65):
        s, state = if_step(c, state, v_th)
        total += s
        assert torch.equal(total, torch.floor(t * c / v_th))


def test_if_step_leaves_its_arguments_alone():
    x = torch.tensor([0.75, 1.5])
    v = torch.tensor([0.5, 0.0])
    x0, v0 = x.clone(), v.clone()
    s, state = if_step(x, IFState(v), torch.tensor(1.0))
    assert torch.equal(x, x0) and torch.equal(v, v0)
    assert torch.equal(s, torch.tensor([1.0, 1.0]))
    assert torch.equal(state.v, torch.tensor([0.25, 0.5]))  # subtractive reset keeps residue


def test_bindsnet_nodes_match_the_step_function():
    nodes = SubtractiveIFNodes(shape=[3], thresh=0.5)
    nodes.set_batch_size(2)
    x = torch.tensor([[0.3, 0.6, 0.1], [0.2, 0.0, 0.9]])
    state = IFState(torch.zeros(2, 3))
    for _ in range(5):
        nodes.forward(x)
        s, state = if_step(x, state, torch.tensor(0.5))
        assert torch.equal(nodes.s, s.bool()) and torch.equal(nodes.v, state.v)
    nodes.reset_state_variables()
    assert not nodes.v.any() and not nodes.s.any()
