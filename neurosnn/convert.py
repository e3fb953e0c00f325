"""ANN → BindsNET SNN conversion in named steps that fail loudly.

Steps: copy → trace (torch.fx, forward order) → fold BatchNorm → split at ReLUs → check the
folded ANN against the original → calibrate (streamed activation histograms) → build the
BindsNET network → set thresholds at a percentile (99.7 by default, Lu & Sengupta Table I, of
all the layer's outputs as in the authors' code, or of the positive ones as in Rueckauer et al.),
optionally one per channel (folded into the weights).

Each ReLU of the ANN becomes a layer of subtractive-reset IF neurons named after the last
weighted module before it; the final linear layer becomes a non-spiking accumulator whose
potential is the evidence for each class (the prediction at step t is its argmax).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from neurosnn.errors import UserError
from neurosnn.networks.blocks import QCFS
from neurosnn.snn import (
    PERCENTILE_OF,
    ActivationHistogram,
    ConvertedSNN,
    PercentileOf,
    build_network,
)
from neurosnn.synapses import SpikeMaxPool2d

Op = tuple[str, nn.Module]  # (module path, module)
_LINEAR = (nn.Conv2d, nn.Linear)
_DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_PASS = (nn.AvgPool2d, nn.MaxPool2d, nn.Flatten)
_ACTIVATIONS = (nn.ReLU, QCFS)  # what a cut between two stages may be
ThresholdSource = Literal["percentile", "trained"]


class _Tracer(fx.Tracer):
    """torch.fx tracer that keeps QCFS activations as modules (their floor is a custom
    autograd function fx cannot trace through)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, qualname)


HISTOGRAM_BINS = 8192
CHANNEL_BINS = 2048  # per channel: 512 channels × 2,048 bins × 8 bytes = 8 MiB a layer


def trace(model: nn.Module) -> list[Op]:
    """Leaf modules (and supported functions) of ``model`` in forward order.

    Raises:
        NotImplementedError: naming the module path of anything that is not a supported layer,
            or of any branch (the converter handles feed-forward chains only).
    """
    graph = _Tracer().trace(model)
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
                module, _LINEAR + _DROPPED + _PASS + _ACTIVATIONS + (nn.BatchNorm1d, nn.BatchNorm2d)
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
    """Group linear operators between activations (ReLU or QCFS); each group is named after
    its weighted layer."""
    groups: list[tuple[str, list[Op]]] = []
    current: list[Op] = []
    for path, module in ops:
        if isinstance(module, _DROPPED):
            continue
        if isinstance(module, _ACTIVATIONS):
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
    """The ANN as the converter sees it: BatchNorm folded, cut at the activations, each stage
    named like the SNN layer it becomes. ``act(stage(x))`` of stage n is layer n's activation,
    ``act`` the n-th of :func:`stage_activations` (the last stage is the output, without one).
    Works on a copy of ``model``."""
    ann = copy.deepcopy(model).cpu().eval()
    groups = split_at_relus(fold_batchnorm(trace(ann)))
    return list(zip([name for name, _ in groups], _ann_ops(groups), strict=True))


def stage_activations(model: nn.Module) -> list[nn.Module]:
    """The activation closing each hidden stage of :func:`ann_stages` (copies: ReLU or QCFS)."""
    ops = trace(copy.deepcopy(model).cpu().eval())
    return [m.eval().requires_grad_(False) for _, m in ops if isinstance(m, _ACTIVATIONS)]


@torch.no_grad()
def calibrate(
    stages: list[nn.Sequential],
    names: list[str],
    batches: Iterable[torch.Tensor],
    bins: int = HISTOGRAM_BINS,
    channels: Sequence[str] = (),
    channel_bins: int = CHANNEL_BINS,
    activations: Sequence[nn.Module] | None = None,
) -> tuple[dict[str, ActivationHistogram], dict[str, list[ActivationHistogram]]]:
    """Histograms of each hidden layer's outputs (positive values binned, zeros counted), in
    two streamed passes; for the layers in ``channels`` also one histogram per channel. A
    layer's output is ``activations[i](stage(x))`` (default: ReLU).

    Returns:
        ``(per layer, per channel of the layers in channels)``.
    """
    batches = list(batches)
    if not batches:
        raise UserError("calibration needs at least one batch of data")

    acts = list(activations) if activations is not None else [nn.ReLU()] * (len(stages) - 1)

    def outputs(x):
        for i, stage in enumerate(stages[:-1]):
            x = acts[i](stage(x))
            yield names[i], x

    maxima = dict.fromkeys(names[:-1], 0.0)
    channel_max: dict[str, torch.Tensor] = {}
    for x in batches:
        for name, a in outputs(x):
            maxima[name] = max(maxima[name], float(a.max()))
            if name in channels:
                m = a.transpose(0, 1).flatten(1).amax(1).double()
                channel_max[name] = torch.maximum(channel_max.get(name, m), m)
    counts = {n: torch.zeros(bins, dtype=torch.float64) for n in names[:-1]}
    zeros = dict.fromkeys(names[:-1], 0.0)
    per_channel = {
        n: (torch.zeros(len(m), channel_bins, dtype=torch.float64), torch.zeros(len(m)))
        for n, m in channel_max.items()
    }
    for x in batches:
        for name, a in outputs(x):
            if maxima[name] > 0:
                pos = a[a > 0].float().cpu()
                counts[name] += torch.histc(pos, bins, 0.0, maxima[name]).double()
                zeros[name] += a.numel() - pos.numel()
            if name in per_channel:
                _add_channel_counts(a, channel_max[name], *per_channel[name])
    for name, m in maxima.items():
        if m <= 0:
            raise UserError(
                f"layer {name} never activated on the calibration data; use more calibration images"
            )
    layers = {n: ActivationHistogram(counts[n], maxima[n], zeros[n]) for n in names[:-1]}
    channel_hists = {
        n: [
            ActivationHistogram(c, float(m), float(z))
            for c, m, z in zip(hist, channel_max[n], nz, strict=True)
        ]
        for n, (hist, nz) in per_channel.items()
    }
    return layers, channel_hists


def _add_channel_counts(a, maxima, counts, zeros) -> None:
    """Bin ``a [B, C, ...]`` channel by channel into ``counts [C, bins]`` of equal width over
    ``[0, max_c]`` (as ``torch.histc``), counting the zeros in ``zeros [C]``."""
    c, bins = counts.shape
    a = a.transpose(0, 1).flatten(1).double()  # [C, n]
    top = maxima.clamp_min(torch.finfo(torch.float64).tiny).unsqueeze(1)
    index = (a / top * bins).long().clamp_(max=bins - 1)
    index += torch.arange(c).unsqueeze(1) * bins
    positive = a > 0
    counts += torch.bincount(index[positive], minlength=c * bins).view(c, bins).double()
    zeros += (~positive).sum(1).double()


def channel_thresholds(
    hists: list[ActivationHistogram], percentile: float, of: PercentileOf
) -> torch.Tensor:
    """``[C]`` each channel's threshold: its own ``percentile`` (over ``of``). A channel whose
    percentile over all outputs is 0 (it is silent almost everywhere) takes the percentile of
    its positive values; a channel that never fired keeps 1 (its weights stay as they are)."""
    out = []
    for h in hists:
        if h.max <= 0:
            out.append(1.0)
            continue
        value = h.percentile(percentile, of)
        out.append(value if value > 0 else h.percentile(percentile, "positive"))
    return torch.tensor(out, dtype=torch.float64)


def rescale_channels(stages: list[nn.Sequential], index: int, scales: torch.Tensor) -> None:
    """Divide the output channels of stage ``index`` by ``scales [C]`` and multiply the next
    stage's matching inputs by them, in place: the same function (ReLU and pooling commute
    with a positive per-channel scale), with each channel's activations in its own units."""
    layer = next(m for m in stages[index] if isinstance(m, _LINEAR))
    s = scales.to(layer.weight.dtype)
    layer.weight.div_(s.view(-1, *(1,) * (layer.weight.dim() - 1)))
    if layer.bias is not None:
        layer.bias.div_(s)
    nxt = next(m for m in stages[index + 1] if isinstance(m, _LINEAR))
    if isinstance(nxt, nn.Conv2d):
        nxt.weight.mul_(s.view(1, -1, 1, 1))
    else:  # a Linear after Flatten: channel-major features
        nxt.weight.mul_(s.repeat_interleave(nxt.in_features // len(s)).view(1, -1))


def _channelwise_layers(
    channelwise: bool | Sequence[str], names: list[str], shapes: list[tuple[int, ...]]
) -> list[str]:
    hidden = dict(zip(names[:-1], shapes[:-1], strict=True))
    if channelwise is True:
        return [n for n, shape in hidden.items() if len(shape) == 3]
    if channelwise is False:
        return []
    if isinstance(channelwise, str):
        channelwise = [channelwise]
    for name in channelwise:
        if name not in hidden:
            raise UserError(f"channelwise: {name!r} is not an IF layer; IF layers: {names[:-1]}")
        if len(hidden[name]) != 3:
            raise UserError(
                f"channelwise: layer {name} has no channels (shape {hidden[name]}); only "
                "convolutional layers can have channel-wise thresholds"
            )
    return list(channelwise)


@torch.no_grad()
def convert(
    model: nn.Module,
    calibration_batches: Iterable[torch.Tensor],
    input_shape: tuple[int, ...],
    percentile: float = 99.7,
    device: torch.device | str = "cpu",
    *,
    percentile_of: PercentileOf = "all",
    channelwise: bool | Sequence[str] = False,
    phi: float | Sequence[float] = 0.0,
    thresholds: ThresholdSource = "percentile",
) -> ConvertedSNN:
    """Convert a trained feed-forward ANN to a BindsNET SNN of subtractive-reset IF neurons.

    Args:
        model: the ANN; it is copied, never changed.
        calibration_batches: normalised input batches ``[B, C, H, W]`` for the activation
            histograms (a few hundred to a few thousand images).
        input_shape: shape of one input sample, ``(C, H, W)``.
        percentile: initial threshold of every layer, as a percentile of its activations.
        device: where the SNN lives.
        percentile_of: ``"all"`` (default): the percentile of all of a layer's ReLU outputs,
            zeros included, as ``np.percentile`` in Lu & Sengupta's public code (the paper's
            99.7); ``"positive"``: of the positive ones only (Rueckauer et al.).
        channelwise: channel-wise thresholds (each channel at its own percentile; SpikingJelly's
            channel-wise mode) for every convolutional layer (``True``) or the named ones. They
            are folded into the weights: each channel's output is divided by its threshold and
            the next layer's weights multiplied by it (the same function), so the layer keeps
            one threshold, ≈ 1, and every engine runs it unchanged; ``snn.channel_scales``
            holds the channel thresholds in the ANN's units.
        phi: initial membrane potential ``φ·θ`` of every IF layer (one value or one per
            layer), φ in [0, 1).
        thresholds: ``"percentile"`` (calibrated), or ``"trained"``: each layer's threshold is
            its QCFS activation's trained λ (Bu et al.; the network must use QCFS everywhere;
            pair it with ``phi=0.5``).

    Returns:
        The converted SNN with thresholds set to ``percentile`` (or to the trained λ).
    """
    if percentile_of not in PERCENTILE_OF:
        raise UserError(f"percentile_of must be one of {PERCENTILE_OF}, got {percentile_of!r}")
    if thresholds not in ("percentile", "trained"):
        raise UserError(f"thresholds must be 'percentile' or 'trained', got {thresholds!r}")
    ann = copy.deepcopy(model).cpu().eval()
    names, stages = zip(*ann_stages(ann), strict=True)
    names, stages = list(names), list(stages)
    acts = stage_activations(ann)
    lambdas = _trained_thresholds(names, acts) if thresholds == "trained" else None
    if lambdas is not None and channelwise:
        raise UserError("channelwise: trained thresholds are one per layer (QCFS's λ)")

    probe = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    relu_ann = _with_relus(ann)  # folding is checked exactly; QCFS's floor would amplify ulps
    try:
        reference = relu_ann(probe)
    except RuntimeError as err:
        raise UserError(
            f"input_shape {tuple(input_shape)} does not fit the network: {err}"
        ) from err
    shapes = _check_stages(stages, probe, reference)
    channel_layers = _channelwise_layers(channelwise, names, shapes)
    for name, act in zip(names, acts, strict=False):
        if name in channel_layers and isinstance(act, QCFS):
            raise UserError(
                f"channelwise: layer {name} ends in a QCFS activation, which one scale per "
                "channel does not commute with"
            )

    batches = [b.cpu() for b in calibration_batches]
    calibration, per_channel = calibrate(
        stages, names, batches, channels=channel_layers, activations=acts
    )
    scales = {}
    if channel_layers:  # each stage its own modules: a BackRes block shares them across steps
        stages = [copy.deepcopy(stage) for stage in stages]
    for name in channel_layers:
        scales[name] = channel_thresholds(per_channel[name], percentile, percentile_of)
        rescale_channels(stages, names.index(name), scales[name])
    if scales:
        _check_stages(stages, probe, reference)
        calibration, _ = calibrate(stages, names, batches)  # channel-wise nets are ReLU nets
    segments = [
        (name, _as_snn_ops(stage), shape)
        for name, stage, shape in zip(names, stages, shapes, strict=True)
    ]
    network, layer_names = build_network(tuple(input_shape), segments)
    snn = ConvertedSNN(
        network,
        layer_names,
        tuple(input_shape),
        calibration,
        percentile_of=percentile_of,
        channel_scales={n: v.float() for n, v in scales.items()},
        activations=dict(zip(names, acts, strict=False)),
    )
    if lambdas is None:
        snn.set_percentiles(percentile)
    else:
        snn.set_thresholds(lambdas)
    snn.set_phi(phi)
    return snn.to(device)


def _trained_thresholds(names: list[str], acts: list[nn.Module]) -> list[float]:
    """Each hidden layer's QCFS λ; raises naming a layer without one."""
    values = []
    for name, act in zip(names, acts, strict=False):
        if not isinstance(act, QCFS):
            raise UserError(
                f"thresholds='trained': layer {name} ends in {type(act).__name__}, not a QCFS "
                "activation with a trained threshold (train with --option activation=qcfs)"
            )
        if not float(act.threshold) > 0:
            raise UserError(f"thresholds='trained': λ of layer {name} is {float(act.threshold)}")
        values.append(float(act.threshold))
    return values


def _with_relus(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every QCFS activation replaced by a ReLU."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for key, child in parent.named_children():
            if isinstance(child, QCFS):
                setattr(parent, key, nn.ReLU())
    return model


def _check_stages(stages, probe, reference) -> list[tuple[int, ...]]:
    """Each stage's output shape; raises if the stages do not reproduce the ANN's output."""
    x, shapes = probe, []
    for i, stage in enumerate(stages):
        x = stage(x) if i == len(stages) - 1 else torch.relu(stage(x))
        shapes.append(tuple(x.shape[1:]))
    if not torch.allclose(x, reference, rtol=1e-4, atol=1e-4):
        raise RuntimeError(
            "the traced and folded network does not reproduce the ANN's output; "
            "its forward() does something the converter cannot see"
        )
    return shapes
