"""ANN → BindsNET SNN conversion in named steps that fail loudly.

Steps: copy → trace (torch.fx, forward order) → fold BatchNorm → split at ReLUs → check the
folded ANN against the original → calibrate (streamed activation histograms) → build the
BindsNET network → set thresholds at a percentile (99.7 by default, Lu & Sengupta Table I).

Each ReLU of the ANN becomes a layer of subtractive-reset IF neurons named after the last
weighted module before it; the final linear layer becomes a non-spiking accumulator whose
potential is the evidence for each class (the prediction at step t is its argmax).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from neurosnn.snn import ActivationHistogram, ConvertedSNN, build_network
from neurosnn.synapses import SpikeMaxPool2d

Op = tuple[str, nn.Module]  # (module path, module)
_LINEAR = (nn.Conv2d, nn.Linear)
_DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_PASS = (nn.AvgPool2d, nn.MaxPool2d, nn.Flatten)
HISTOGRAM_BINS = 8192


def trace(model: nn.Module) -> list[Op]:
    """Leaf modules (and supported functions) of ``model`` in forward order.

    Raises:
        NotImplementedError: naming the module path of anything that is not a supported layer,
            or of any branch (the converter handles feed-forward chains only).
    """
    graph = fx.symbolic_trace(model).graph
    ops: list[Op] = []
    modules = dict(model.named_modules())
    for node in graph.nodes:
        if len(node.users) > 1:
            raise NotImplementedError(
                f"{node.target}: output used {len(node.users)} times; "
                "only feed-forward chains can be converted"
            )
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            module = modules[node.target]
            if not isinstance(
                module, _LINEAR + _DROPPED + _PASS + (nn.ReLU, nn.BatchNorm1d, nn.BatchNorm2d)
            ):
                raise NotImplementedError(f"{node.target}: {type(module).__name__}")
            ops.append((node.target, module))
        elif node.op == "call_function" and node.target in (F.relu, torch.relu):
            ops.append((node.name, nn.ReLU()))
        elif node.op == "call_function" and node.target is torch.flatten and node.args[1:] == (1,):
            ops.append((node.name, nn.Flatten()))
        else:
            raise NotImplementedError(f"{node.name}: {node.op} {node.target}")
    return _name_repeats(ops)


def _name_repeats(ops: list[Op]) -> list[Op]:
    """A module applied several times (a BackRes block re-uses its weights) is named
    ``path@k`` at its k-th application, so each unrolling step becomes its own SNN layer, with
    its own threshold (Panda et al.: one threshold per unrolling step)."""
    total: dict[str, int] = {}
    for path, _ in ops:
        total[path] = total.get(path, 0) + 1
    seen: dict[str, int] = {}
    named = []
    for path, module in ops:
        if total[path] > 1:
            seen[path] = seen.get(path, 0) + 1
            path = f"{path}@{seen[path]}"
        named.append((path, module))
    return named


def fold_batchnorm(ops: list[Op]) -> list[Op]:
    """Fold each BatchNorm into the Conv2d/Linear before it; returns new modules."""
    out: list[Op] = []
    for path, module in ops:
        if not isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            out.append((path, module))
            continue
        if not out or not isinstance(out[-1][1], _LINEAR):
            raise NotImplementedError(f"{path}: BatchNorm must follow a Conv2d or Linear")
        prev_path, layer = out.pop()
        scale = module.weight.detach() / torch.sqrt(module.running_var + module.eps)
        bias = layer.bias.detach() if layer.bias is not None else torch.zeros_like(scale)
        fused = copy.deepcopy(layer)
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        fused.weight = nn.Parameter(layer.weight.detach() * scale.view(shape), requires_grad=False)
        fused.bias = nn.Parameter(
            (bias - module.running_mean) * scale + module.bias.detach(), requires_grad=False
        )
        out.append((prev_path, fused))
    return out


def split_at_relus(ops: list[Op]) -> list[tuple[str, list[Op]]]:
    """Group linear operators between ReLUs; each group is named after its weighted layer."""
    groups: list[tuple[str, list[Op]]] = []
    current: list[Op] = []
    for path, module in ops:
        if isinstance(module, _DROPPED):
            continue
        if isinstance(module, nn.ReLU):
            groups.append(_close_group(current, path))
            current = []
            continue
        if isinstance(module, nn.MaxPool2d) and current:
            raise NotImplementedError(
                f"{path}: MaxPool2d must directly follow a ReLU "
                "(spike max pooling gates the previous layer's spikes)"
            )
        current.append((path, module))
    if not current:
        raise NotImplementedError("the network must end with a Conv2d or Linear output layer")
    groups.append(_close_group(current, "output"))
    return groups


def _close_group(current: list[Op], where: str) -> tuple[str, list[Op]]:
    weighted = [p for p, m in current if isinstance(m, _LINEAR)]
    if len(weighted) != 1:
        raise NotImplementedError(
            f"{where}: expected exactly one Conv2d/Linear before it, found {len(weighted)}"
        )
    return weighted[0], current


def _as_snn_ops(stage: nn.Sequential) -> nn.Sequential:
    mods = []
    for m in stage:
        if isinstance(m, nn.MaxPool2d):
            mods.append(SpikeMaxPool2d(m.kernel_size, m.stride, m.padding))
        else:
            mods.append(copy.deepcopy(m))
    return nn.Sequential(*mods).eval().requires_grad_(False)


def _ann_ops(groups: list[tuple[str, list[Op]]]) -> list[nn.Sequential]:
    return [nn.Sequential(*[m for _, m in g]).eval() for _, g in groups]


def ann_stages(model: nn.Module) -> list[tuple[str, nn.Sequential]]:
    """The ANN as the converter sees it: BatchNorm folded, cut at the ReLUs, each stage named
    like the SNN layer it becomes. ``relu(stage(x))`` of stage n is layer n's activation (the
    last stage is the output, without ReLU). Works on a copy of ``model``."""
    ann = copy.deepcopy(model).cpu().eval()
    groups = split_at_relus(fold_batchnorm(trace(ann)))
    return list(zip([name for name, _ in groups], _ann_ops(groups), strict=True))


@torch.no_grad()
def calibrate(
    stages: list[nn.Sequential],
    names: list[str],
    batches: Iterable[torch.Tensor],
    bins: int = HISTOGRAM_BINS,
) -> dict[str, ActivationHistogram]:
    """Histograms of each hidden layer's positive ReLU activations, in two streamed passes."""
    batches = list(batches)
    if not batches:
        raise ValueError("calibration needs at least one batch of data")

    def activations(x):
        for i, stage in enumerate(stages[:-1]):
            x = torch.relu(stage(x))
            yield names[i], x

    maxima = dict.fromkeys(names[:-1], 0.0)
    for x in batches:
        for name, a in activations(x):
            maxima[name] = max(maxima[name], float(a.max()))
    counts = {n: torch.zeros(bins, dtype=torch.float64) for n in names[:-1]}
    for x in batches:
        for name, a in activations(x):
            if maxima[name] > 0:
                pos = a[a > 0].float().cpu()
                counts[name] += torch.histc(pos, bins, 0.0, maxima[name]).double()
    for name, m in maxima.items():
        if m <= 0:
            raise ValueError(
                f"layer {name} never activated on the calibration data; use more calibration images"
            )
    return {n: ActivationHistogram(counts[n], maxima[n]) for n in names[:-1]}


@torch.no_grad()
def convert(
    model: nn.Module,
    calibration_batches: Iterable[torch.Tensor],
    input_shape: tuple[int, ...],
    percentile: float = 99.7,
    device: torch.device | str = "cpu",
) -> ConvertedSNN:
    """Convert a trained feed-forward ANN to a BindsNET SNN of subtractive-reset IF neurons.

    Args:
        model: the ANN; it is copied, never changed.
        calibration_batches: normalised input batches ``[B, C, H, W]`` for the activation
            histograms (a few hundred to a few thousand images).
        input_shape: shape of one input sample, ``(C, H, W)``.
        percentile: initial threshold of every layer, as a percentile of its activations.
        device: where the SNN lives.

    Returns:
        The converted SNN with thresholds set to ``percentile``.
    """
    ann = copy.deepcopy(model).cpu().eval()
    names, stages = zip(*ann_stages(ann), strict=True)
    names, stages = list(names), list(stages)

    probe = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    try:
        reference = ann(probe)
    except RuntimeError as err:
        raise ValueError(
            f"input_shape {tuple(input_shape)} does not fit the network: {err}"
        ) from err
    x, shapes = probe, []
    for i, stage in enumerate(stages):
        x = stage(x) if i == len(stages) - 1 else torch.relu(stage(x))
        shapes.append(tuple(x.shape[1:]))
    if not torch.allclose(x, reference, rtol=1e-4, atol=1e-4):
        raise RuntimeError(
            "the traced and folded network does not reproduce the ANN's output; "
            "its forward() does something the converter cannot see"
        )

    calibration = calibrate(stages, names, (b.cpu() for b in calibration_batches))
    segments = [
        (name, _as_snn_ops(stage), shape)
        for name, stage, shape in zip(names, stages, shapes, strict=True)
    ]
    network, layer_names = build_network(tuple(input_shape), segments)
    snn = ConvertedSNN(network, layer_names, tuple(input_shape), calibration)
    snn.set_percentiles(percentile)
    return snn.to(device)
