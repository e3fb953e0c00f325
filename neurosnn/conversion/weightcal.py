"""Layer-wise weight calibration: Li, Deng, Dong, Gong & Gu, "A free lunch from ANN: towards
efficient, accurate spiking neural networks calibration", ICML 2021 — the weight step of the
"advanced" pipeline (their Eq. 14–15, as the authors' ``weights_cali_layer`` of
yhhhli/SNN_Calibration ``models/calibration.py`` runs it).

Layer by layer, in topological order, the weights ``W`` of the Conv2d/Linear that feeds an IF
layer are fitted so that the SNN's expected output over T steps matches the ANN's activation
``a`` on a few training images:

    min_W  mean over images of  Σ_features ( Q(W r̄ + b + res)  −  a )²

with ``r̄`` the op's input averaged over the T steps of the SNN whose earlier layers are already
calibrated (threshold-valued spikes: ``θ · count / T``), ``res`` the mean current of the layer's
other incoming connections (a residual shortcut; the authors' ``weights_cali_res_layer``) and
``Q`` the IF neuron's output for a constant current ``I`` over T steps,

    Q(I) = θ / T · floor( clip( (T·I + φθ + u) / θ, 0, T ) ),

its floor passed straight through in the gradient (``floor_ste``). Adam, cosine-annealed to 0,
on random batches of the cached images; the bias stays.

Where this differs from the authors' code:
- their ``Q`` is ``floor(clip(T·I/θ, 0, T))`` with the half-threshold start added in their
  neuron; here ``Q`` is the neuron the SNN runs (its φ and per-neuron offsets ``u``), so the fit
  composes with every recipe;
- their inputs come from module hooks; here from the mean source rates through the connection's
  operators before the weights, which equals the hooked mean for linear operators (average
  pooling, flatten), so max pooling (a spike-count gate, not linear in the rates) is refused.
Hyper-parameters: the authors' ImageNet script calls it with 1,024 images, lr 1e-5, 5,000
iterations of 32 images (their function's own default lr: 4e-5); their CIFAR script does not
run it. ``calibrate_weights``' defaults are the ImageNet script's.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from neurosnn.conversion.biascal import _biased_op, _checked_images, spike_counts
from neurosnn.errors import UserError
from neurosnn.simulation.module import SNNModule
from neurosnn.snn.network import ConvertedSNN
from neurosnn.snn.synapses import SpikeMaxPool2d


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """``floor(x)`` whose gradient is the identity's."""
    return (x.floor() - x).detach() + x


def if_rate(current: torch.Tensor, theta: float, phi: float, offset, timesteps: int):
    """``Q(I)``: the mean output ``θ · count / T`` of a subtractive IF neuron that starts at
    ``φθ + offset`` and receives the constant current ``current`` for ``timesteps`` steps."""
    count = (timesteps * current + phi * theta + offset) / theta
    return floor_ste(count.clamp(0, timesteps)) * theta / timesteps


@torch.no_grad()
def _mean_rates(snn: ConvertedSNN, images: list[torch.Tensor], timesteps: int) -> dict:
    """Every IF layer's ``θ · count / T`` for each image, and the input: ``{layer: [N, ...]}``."""
    net = SNNModule(snn, delay="none")
    theta = dict(zip(snn.if_names, snn.thresholds, strict=True))
    out: dict[str, list[torch.Tensor]] = {"input": list(images)}
    for x in images:
        for name, c in spike_counts(net, x, timesteps, snn.if_names).items():
            out.setdefault(name, []).append(c * theta[name] / timesteps)
    return {name: torch.cat(v) for name, v in out.items()}


def _split(ops: nn.Sequential, op: nn.Module) -> tuple[nn.Sequential, bool]:
    """The operators before ``op`` and whether ``op`` ends the connection."""
    mods = list(ops)
    i = next(k for k, m in enumerate(mods) if m is op)
    return nn.Sequential(*mods[:i]), i == len(mods) - 1


def calibrate_weights(
    snn: ConvertedSNN,
    batches: Iterable,
    timesteps: int,
    iterations: int = 5000,
    lr: float = 1e-5,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Li et al.'s layer-wise weight calibration, in place (run the potential calibration after
    it, as the authors' "advanced" pipeline does).

    Args:
        snn: the converted SNN, with the thresholds, φ and offsets it will run with.
        batches: training images (tensors or ``(x, y)`` pairs); the authors: 1,024.
        timesteps: T at which the SNN will be read.
        iterations: Adam steps per layer (the authors: 5,000).
        lr: Adam's learning rate, cosine-annealed to 0 (the authors' ImageNet script: 1e-5).
        batch_size: images per step (the authors: 32).
        seed: the random batches' seed.

    Returns:
        Each IF layer's loss on all the images ``(before, after)``.
    """
    images = _checked_images(batches, timesteps, snn, "weight calibration")
    if iterations < 1 or batch_size < 1:
        raise UserError(
            f"weight calibration: iterations and batch_size must be >= 1, got {iterations} "
            f"and {batch_size}"
        )
    for _, conn in snn.network.connections.items():
        if any(isinstance(m, SpikeMaxPool2d) for m in conn.ops):
            raise UserError(
                "weight calibration: max pooling of spikes is not linear in the rates it "
                "fits; use average pooling (pool=avg) or the potential calibration alone"
            )
    with torch.no_grad():
        targets = {n: [] for n in snn.if_names}
        for x in images:
            for name, _, act in snn.ann_forward(x):
                if name in targets:
                    targets[name].append(act)
        targets = {n: torch.cat(v) for n, v in targets.items()}
    generator = torch.Generator().manual_seed(seed)
    losses = {}
    for name in snn.if_names:  # topological order: later layers see the calibrated ones
        rates = _mean_rates(snn, images, timesteps)
        op = _biased_op(snn, name)
        inputs, rest = None, 0.0
        with torch.no_grad():
            for source, conn in snn.incoming(name):
                before, last = _split(conn.ops, op) if op in list(conn.ops) else (None, False)
                if before is not None:
                    if not last:
                        raise UserError(
                            f"weight calibration: the weights into layer {name} are not the "
                            "connection's last operator"
                        )
                    inputs = before(rates[source])
                else:
                    rest = rest + conn.ops(rates[source])
        i = snn.if_names.index(name)
        neuron = (snn.thresholds[i], snn.phi[i], snn.layer(name).offset.detach(), timesteps)
        fit = (iterations, lr, batch_size, generator)
        losses[name] = _fit(op, inputs, targets[name].to(inputs.dtype), rest, neuron, *fit)
    return losses


def _loss(op, x, a, rest, neuron) -> torch.Tensor:
    """mean over images of Σ_features (Q(op(x) + rest) − a)² (the authors' ``lp_loss``)."""
    return (if_rate(op(x) + rest, *neuron) - a).pow(2).flatten(1).sum(1).mean()


def _fit(op, inputs, target, rest, neuron, iterations, lr, batch_size, generator):
    """Adam on ``op.weight`` over random batches; the loss on all images before and after."""
    with torch.no_grad():
        before = float(_loss(op, inputs, target, rest, neuron))
    weight = op.weight
    weight.requires_grad_(True)
    opt = torch.optim.Adam([weight], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iterations, eta_min=0.0)
    for _ in range(iterations):
        idx = torch.randperm(len(inputs), generator=generator)[:batch_size].to(inputs.device)
        opt.zero_grad(set_to_none=True)
        r = rest[idx] if torch.is_tensor(rest) else rest
        _loss(op, inputs[idx], target[idx], r, neuron).backward()
        opt.step()
        sched.step()
    weight.requires_grad_(False)
    weight.grad = None
    with torch.no_grad():
        return before, float(_loss(op, inputs, target, rest, neuron))
