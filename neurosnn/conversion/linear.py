"""The traced ANN read as an SNN graph: every activation becomes a node, and what lies between
activations becomes edges.

Between two activations an ANN computes a linear (affine) function of the activations it reads:
convolutions, linear layers, BatchNorm, pooling, flattening, sums, concatenations, constant
scales and shifts. Such a value is held as a sum of *terms*, one chain of operators per source
(``value = Σ ops_k(source_k)``); an operator applied to a sum is applied to each term, its
bias or shift to the first one only, so the sum is unchanged. At an activation (or the model's
output) the terms become the node's incoming edges, one per source: a residual block's
``relu(bn2(conv2(h)) + shortcut(x))`` is a node with an edge from ``h`` through conv2+bn2 and
one from ``x`` through the shortcut (none: an identity edge).

Max pooling is not linear: it must act on an activation's output, where it becomes the spike
max pooling of the edge (it commutes with the monotone ReLU and QCFS, so a max pooling right
before the activation is moved after it). Dropout and identities vanish (eval mode). Anything
else raises ``ConversionError`` naming the module path or source line.

A node is named after the last Conv2d/Linear of its edge from the latest source (a residual
block's main path; ``path@k`` for the k-th use of a module applied several times, as in BackRes
blocks); a node without one is named after its activation.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from neurosnn.conversion.trace import ConversionError, Traced
from neurosnn.networks.blocks import QCFS
from neurosnn.snn.graph import INPUT, Edge, Node, SNNGraph
from neurosnn.snn.synapses import WEIGHTED, ChannelPad, ScaleShift

ACTIVATIONS = (nn.ReLU, QCFS, nn.Hardtanh)  # Hardtanh(0, a) and ReLU6: a clipped ReLU
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)

_RELU = {F.relu, torch.relu, torch.relu_, F.relu_}
_CLIPPED = {F.relu6, F.hardtanh, F.hardtanh_}
_ADD = {operator.add, operator.iadd, torch.add}
_SUB = {operator.sub, operator.isub, torch.sub}
_MUL = {operator.mul, operator.imul, torch.mul}
_DIV = {operator.truediv, operator.itruediv, torch.div, torch.true_divide}
_NEG = {operator.neg, torch.neg}
_CAT = {torch.cat, torch.concat, torch.concatenate}
_DROP_F = {F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout}
_METHODS = {"relu", "relu_", "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg"}
_ARITHMETIC = {**dict.fromkeys(_ADD, "add"), **dict.fromkeys(_SUB, "sub")}
_ARITHMETIC.update({**dict.fromkeys(_MUL, "mul"), **dict.fromkeys(_DIV, "div")})
_ARITHMETIC.update(dict.fromkeys(_NEG, "neg"))

_ADVICE = (
    "neurosnn converts Conv2d, Linear, BatchNorm, average and max pooling, flatten, dropout, "
    "sums, concatenations along channels, constant scales and shifts, and ReLU, clipped ReLU "
    "(ReLU6, Hardtanh(0, a)) or QCFS activations (docs/conversion.md lists the forms)"
)


@dataclass
class _Term:
    source: str  # INPUT or a sink's id
    ops: list[nn.Module] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # module path of each op ("" for none)


@dataclass
class _Const:
    value: torch.Tensor


@dataclass
class _PendingMax:
    """A max pooling of a linear value, waiting for the activation it commutes with."""

    terms: list[_Term]
    pool: nn.MaxPool2d
    where: str
    shape: tuple[int, ...]  # of the pooled value's input


class _Meta:
    """A non-tensor value (a size, a shape): only reshapes may read it."""


@dataclass
class _Sink:
    id: str
    terms: list[_Term]
    activation: nn.Module | None
    act_name: str
    shape: tuple[int, ...]


def _without_bias(m: nn.Module) -> nn.Module:
    """``m`` as applied to a second term of a sum: its bias or shift dropped."""
    if isinstance(m, WEIGHTED) and m.bias is not None:
        m = copy.deepcopy(m)
        m.bias = None
        return m
    if isinstance(m, ScaleShift) and m.shift is not None:
        return ScaleShift(m.scale)
    return m


def batchnorm_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift) [C]`` of a BatchNorm in eval mode."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = bn.weight.detach() * scale
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach()
    return scale, shift


def _apply(
    terms: list[_Term], op: nn.Module, label: str = "", rest: nn.Module | None = None
) -> list[_Term]:
    """``op`` applied to a sum of terms: to the first as it is, to the others as ``rest``
    (default: ``op`` without its bias)."""
    others = _without_bias(op) if rest is None else rest
    return [
        _Term(t.source, [*t.ops, op if k == 0 else others], [*t.labels, label])
        for k, t in enumerate(terms)
    ]


def channel_view(value: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A per-channel vector ``[C]`` viewed to broadcast over one sample of ``shape``."""
    return value.reshape(-1, *(1,) * (len(shape) - 1))


class _Reader:
    """Walks the traced graph in order, holding each value as terms, constants or sizes."""

    def __init__(self, traced: Traced) -> None:
        self.t = traced
        self.modules = traced.modules
        self.values: dict[fx.Node, object] = {}
        self.sinks: list[_Sink] = []
        self.uses: dict[str, int] = {}  # module path → times called
        for node in traced.module.graph.nodes:
            if node.op == "call_module":
                self.uses[node.target] = self.uses.get(node.target, 0) + 1
        self.calls: dict[str, int] = {}

    def fail(self, node: fx.Node, what: str, advice: str = _ADVICE) -> ConversionError:
        return ConversionError(f"{self.t.where(node)}: {what}; {advice}")

    def shape(self, node: fx.Node) -> tuple[int, ...]:
        return self.t.shapes[node]

    # values --------------------------------------------------------------------------------
    def terms(self, node: fx.Node, arg) -> list[_Term]:
        value = self.value(arg)
        if isinstance(value, list):
            return value
        if isinstance(value, _PendingMax):
            raise self.fail(
                node,
                f"max pooling ({value.where}) of a value that no ReLU follows",
                "put max pooling right after a ReLU (or right before it): spikes are pooled by "
                "their counts",
            )
        raise self.fail(node, "its input does not depend on the network's input")

    def value(self, arg):
        if isinstance(arg, fx.Node):
            return self.values[arg]
        if isinstance(arg, int | float):
            return _Const(torch.tensor(float(arg)))
        if isinstance(arg, torch.Tensor):
            return _Const(arg.detach().float())
        raise TypeError(f"unexpected argument {arg!r}")

    # the walk ------------------------------------------------------------------------------
    def run(self) -> None:
        placeholders = [n for n in self.t.module.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ConversionError(
                f"forward() takes {len(placeholders)} inputs; neurosnn converts a model of one "
                "image batch"
            )
        for node in self.t.module.graph.nodes:
            self.values[node] = self.visit(node)

    def visit(self, node: fx.Node):
        if node.op == "placeholder":
            return [_Term(INPUT)]
        if node.op == "get_attr":
            value = self.t.module
            for part in node.target.split("."):
                value = getattr(value, part)
            return _Const(value.detach().float()) if isinstance(value, torch.Tensor) else _Meta()
        if node.op == "output":
            return self.output(node)
        if node.op == "call_module":
            return self.module_call(node, self.modules[node.target])
        return self.function_call(node)

    def output(self, node: fx.Node):
        result = node.args[0]
        if not isinstance(result, fx.Node):
            raise ConversionError(
                f"the model returns {type(result).__name__}; neurosnn converts a model that "
                "returns one tensor of class scores: pick it with output=KEY "
                "(--model-output KEY: an index or a dict key)"
            )
        terms = self.terms(node, result)
        self.sinks.append(_Sink("output", terms, None, "output", self.shape(result)))
        return None

    def activation(self, node: fx.Node, arg, module: nn.Module, name: str):
        value = self.value(arg)
        pending = value if isinstance(value, _PendingMax) else None
        terms = pending.terms if pending else self.terms(node, arg)
        sink_id = f"#{len(self.sinks)}"
        shape = pending.shape if pending else self.shape(node)
        self.sinks.append(_Sink(sink_id, terms, module, name, shape))
        if pending:  # relu(maxpool(x)) = maxpool(relu(x)): the pooling moves onto the spikes
            return [_Term(sink_id, [pending.pool], [""])]
        return [_Term(sink_id)]

    def label(self, node: fx.Node) -> str:
        path = node.target
        if self.uses[path] == 1:
            return path
        self.calls[path] = self.calls.get(path, 0) + 1
        return f"{path}@{self.calls[path]}"

    def module_call(self, node: fx.Node, m: nn.Module):
        arg = node.args[0] if node.args else None
        if isinstance(m, nn.Hardtanh):
            return self.activation(node, arg, self.clipped(node, m.min_val, m.max_val), node.target)
        if isinstance(m, ACTIVATIONS):
            return self.activation(node, arg, m, node.target)
        if isinstance(m, _DROPOUTS + (nn.Identity,)):
            return self.value(arg)
        if isinstance(m, nn.MaxPool2d):
            return self.max_pool(node, arg, m)
        if isinstance(m, _BATCHNORMS):
            if m.running_mean is None:
                raise self.fail(
                    node, "BatchNorm without running statistics", "use track_running_stats=True"
                )
            scale, _ = batchnorm_affine(m)
            rest = ScaleShift(channel_view(scale, self.shape(arg)))
            return _apply(self.terms(node, arg), m, rest=rest)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return _apply(self.terms(node, arg), self.adaptive_pool(node, arg, m.output_size))
        if isinstance(m, WEIGHTED + (nn.AvgPool2d, nn.Flatten)):
            return _apply(self.terms(node, arg), m, self.label(node))
        raise self.fail(node, f"{type(m).__name__} is not supported")

    def clipped(self, node: fx.Node, low: float, high: float) -> nn.Hardtanh:
        """A clipped ReLU ``min(max(x, 0), high)``: an IF layer whose threshold is at most
        ``high`` (its rate cannot pass the threshold, so the clip is kept exactly)."""
        if float(low) != 0.0 or not float(high) > 0.0:
            raise self.fail(
                node,
                f"Hardtanh({low}, {high}) is not a clipped ReLU",
                "an IF neuron represents min(max(x, 0), a) with a > 0 (ReLU6, Hardtanh(0, a))",
            )
        return nn.Hardtanh(0.0, float(high))

    def max_pool(self, node: fx.Node, arg, pool: nn.MaxPool2d):
        if pool.return_indices or pool.dilation not in (1, (1, 1)):
            raise self.fail(
                node,
                "max pooling with indices or dilation",
                "use a MaxPool2d(kernel, stride, padding, ceil_mode=...)",
            )
        value = self.value(arg)
        if isinstance(value, list) and len(value) == 1 and not value[0].ops:
            return [_Term(value[0].source, [pool], [""])]  # an activation's (or the input's)
        if isinstance(value, list) and _concatenated(value, self.shape(arg)[0]):  # per part
            return [_Term(t.source, [pool, *t.ops], ["", *t.labels]) for t in value]
        terms = self.terms(node, arg)
        return _PendingMax(terms, pool, self.t.where(node), self.shape(arg))

    def adaptive_pool(self, node: fx.Node, arg, size) -> nn.AvgPool2d:
        h, w = self.shape(arg)[-2:]
        size = (size, size) if isinstance(size, int) else tuple(size)
        oh, ow = (h if size[0] is None else size[0]), (w if size[1] is None else size[1])
        if h % oh or w % ow:
            raise self.fail(
                node,
                f"adaptive average pooling of {h}×{w} to {oh}×{ow} has no exact kernel",
                "choose an output size that divides the input, or an AvgPool2d",
            )
        return nn.AvgPool2d((h // oh, w // ow))

    def function_call(self, node: fx.Node):
        target, args, kwargs = node.target, node.args, node.kwargs
        method = node.op == "call_method"
        if method and target not in _METHODS | {
            "view",
            "reshape",
            "flatten",
            "mean",
            "size",
            "contiguous",
            "clone",
            "dim",
        }:
            raise self.fail(node, f"the tensor method .{target}() is not supported")
        if (method and target in ("relu", "relu_")) or target in _RELU:
            return self.activation(node, args[0], nn.ReLU(), node.name)
        if target in _CLIPPED:
            names = ("min_val", "max_val") if target is not F.relu6 else ()
            bounds = {"min_val": -1.0, "max_val": 1.0} if names else {"min_val": 0.0}
            bounds.update(dict(zip(names, args[1:], strict=False)))
            bounds.update({k: v for k, v in kwargs.items() if k in names})
            top = bounds.get("max_val", 6.0)
            return self.activation(
                node, args[0], self.clipped(node, bounds["min_val"], top), node.name
            )
        if target is getattr or (method and target in ("size", "dim")):
            return _Meta()
        if target is operator.getitem:
            if isinstance(self.value(args[0]), _Meta):
                return _Meta()
            raise self.fail(
                node,
                "indexing a tensor",
                "slices are not converted; use pooling or a 1×1 convolution with stride",
            )
        if (method and target in ("contiguous", "clone")) or target in _DROP_F:
            return self.value(args[0])
        if (method and target in ("view", "reshape", "flatten")) or target in (
            torch.flatten,
            torch.reshape,
        ):
            return self.flatten(node, args[0])
        if (method and target == "mean") or target is torch.mean:
            return self.mean(node, args, kwargs)
        if target is F.avg_pool2d:
            return _apply(self.terms(node, args[0]), nn.AvgPool2d(*args[1:], **kwargs))
        if target is F.max_pool2d:
            names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
            pool = nn.MaxPool2d(**dict(zip(names, args[1:], strict=False)), **kwargs)
            return self.max_pool(node, args[0], pool)
        if target is F.adaptive_avg_pool2d:
            size = args[1] if len(args) > 1 else kwargs["output_size"]
            return _apply(self.terms(node, args[0]), self.adaptive_pool(node, args[0], size))
        if target in _CAT:
            return self.cat(node, args, kwargs)
        kind = target if method else _ARITHMETIC.get(target)
        if kind is not None:
            return self.arithmetic(node, kind.rstrip("_"), args, kwargs)
        name = getattr(target, "__name__", str(target))
        raise self.fail(node, f"{name} is not supported")

    def flatten(self, node: fx.Node, arg):
        before, after = self.shape(arg), self.shape(node)
        if len(after) != 1 or after[0] != int(torch.tensor(before).prod()):
            raise self.fail(
                node,
                f"a reshape of {before} to {after}",
                "only flattening each sample to a vector converts: x.flatten(1), "
                "x.view(x.size(0), -1) or nn.Flatten()",
            )
        if len(before) == 1:
            return self.value(arg)
        return _apply(self.terms(node, arg), nn.Flatten())

    def mean(self, node: fx.Node, args, kwargs):
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        keep = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        shape = self.shape(args[0])
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        spatial = sorted(d % (len(shape) + 1) for d in dims)
        if len(shape) != 3 or spatial != [2, 3]:
            raise self.fail(
                node,
                f"a mean over dimensions {dims}",
                "only the global average over height and width, x.mean((2, 3)), converts",
            )
        pooled = _apply(self.terms(node, args[0]), nn.AvgPool2d(shape[1:]))
        return pooled if keep else _apply(pooled, nn.Flatten())

    def cat(self, node: fx.Node, args, kwargs):
        parts = list(args[0])
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        rank = len(self.shape(node)) + 1
        if dim % rank != 1:
            raise self.fail(
                node,
                f"concatenation along dimension {dim}",
                "only channels (dim=1) can be concatenated",
            )
        total = self.shape(node)[0]
        terms, offset = [], 0
        for part in parts:
            width = self.shape(part)[0]
            pad = ChannelPad(offset, total - offset - width)
            terms += _apply(self.terms(node, part), pad)
            offset += width
        return terms

    def arithmetic(self, node: fx.Node, kind: str, args, kwargs):
        shape = self.shape(node)
        if kind == "neg":
            return _apply(self.terms(node, args[0]), ScaleShift(torch.tensor(-1.0)))
        a, b = self.value(args[0]), self.value(args[1])
        if isinstance(a, _Const) and isinstance(b, _Const):
            ops = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}
            return _Const(ops.get(kind, operator.truediv)(a.value, b.value))
        alpha = kwargs.get("alpha", 1)
        if kind in ("add", "sub") and alpha != 1:
            b = self.scaled(node, b, alpha, shape)
        if kind == "sub":
            b = self.scaled(node, b, -1, shape)
            kind = "add"
        if kind == "add":
            if isinstance(a, list) and isinstance(b, list):
                return a + b
            terms, const = (a, b) if isinstance(a, list) else (b, a)
            if not isinstance(terms, list) or not isinstance(const, _Const):
                raise self.fail(node, "a sum of these values")
            return _apply(terms, ScaleShift(torch.tensor(1.0), self.sample_const(node, const)))
        if kind == "mul":
            terms, const = (a, b) if isinstance(a, list) else (b, a)
        else:  # div
            terms, const = a, b
            if isinstance(const, _Const):
                const = _Const(1.0 / const.value)
        if not isinstance(terms, list) or not isinstance(const, _Const):
            raise self.fail(
                node,
                f"a {kind} of two values that depend on the input",
                "only constant factors are linear",
            )
        return _apply(terms, ScaleShift(self.sample_const(node, const)))

    def scaled(self, node: fx.Node, value, factor: float, shape) -> object:
        if isinstance(value, _Const):
            return _Const(value.value * factor)
        return _apply(value, ScaleShift(torch.tensor(float(factor))))

    def sample_const(self, node: fx.Node, const: _Const) -> torch.Tensor:
        """A constant as it broadcasts over one sample (a leading batch dimension of 1 is
        dropped)."""
        value, rank = const.value, len(self.shape(node))
        if value.dim() == rank + 1:
            if value.shape[0] != 1:
                raise self.fail(
                    node,
                    "a constant with a batch dimension",
                    "use a constant that is the same for every sample",
                )
            value = value[0]
        if value.dim() > rank:
            raise self.fail(node, f"a constant of shape {tuple(value.shape)}")
        return value


def _concatenated(terms: list[_Term], channels: int) -> bool:
    """Whether ``terms`` are activations (or the input) placed side by side along
    ``channels`` channels (``torch.cat``), each in channels of its own, so that a per-channel
    operator applies to each part."""
    pads = [t.ops[0] for t in terms if len(t.ops) == 1 and isinstance(t.ops[0], ChannelPad)]
    if len(terms) < 2 or len(pads) != len(terms):
        return False
    spans = sorted((p.before, channels - p.after) for p in pads)
    return all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False))


def _merge_name(sink: _Sink, order: dict[str, int]) -> str:
    """The node's name: the last Conv2d/Linear on its edge from the latest source, else its
    activation's name."""

    def weighted(term: _Term) -> list[str]:
        return [
            label
            for op, label in zip(term.ops, term.labels, strict=True)
            if isinstance(op, WEIGHTED) and label
        ]

    # the latest source's path; where it has several, one with weights
    main = max(sink.terms, key=lambda t: (order[t.source], bool(weighted(t))))
    return weighted(main)[-1] if weighted(main) else sink.act_name


def read_graph(traced: Traced, copy_ops: bool = True) -> SNNGraph:
    """The SNN graph of a traced ANN, with the ANN's operators on its edges (not yet folded;
    ``neurosnn.conversion.fold.fold_graph`` folds them): copies, or with ``copy_ops=False``
    the traced module's own (for training them)."""
    reader = _Reader(traced)
    reader.run()
    sinks = reader.sinks
    if sinks[-1].id != "output":
        raise ConversionError("the model has no output")
    order = {INPUT: -1, **{s.id: i for i, s in enumerate(sinks)}}
    names: dict[str, str] = {INPUT: INPUT}
    for sink in sinks:
        name = _merge_name(sink, order)
        if name in names.values():
            name = sink.act_name
        base, k = name, 1
        while name in names.values():
            k += 1
            name = f"{base}#{k}"
        names[sink.id] = name
    nodes, edges = [], []
    for sink in sinks:
        for term in sink.terms:
            if copy_ops:
                ops = nn.Sequential(*[copy.deepcopy(op) for op in term.ops])
                ops.eval().requires_grad_(False)
            else:
                ops = nn.Sequential(*term.ops)
            edges.append(Edge(names[term.source], names[sink.id], ops))
        activation = sink.activation
        if activation is not None and copy_ops:
            activation = copy.deepcopy(activation)
        nodes.append(Node(names[sink.id], sink.shape, activation))
    return SNNGraph(traced.input_shape, nodes, edges)
