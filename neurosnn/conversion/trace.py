"""Tracing: the ANN's ``torch.fx`` graph, the shape of every value in it, and where each node
comes from (module path or source line) for error messages.

The trace runs on a float32 copy in eval mode; QCFS activations stay leaf modules (their floor
is a custom autograd function fx cannot trace through). Shapes come from running the traced
module once on a probe batch of two (so that a flatten can be told from a reshape that mixes
samples).
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

from neurosnn.errors import UserError
from neurosnn.networks.blocks import QCFS

log = logging.getLogger(__name__)
PROBE_BATCH = 2
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>\S+)\n\s*(?P<code>.*)')


class ConversionError(UserError, NotImplementedError):
    """A layer or operation the converter cannot turn into an SNN; the message names the
    module path or source line and what to write instead."""


class _Tracer(fx.Tracer):
    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, qualname)


@dataclass
class Traced:
    """The traced ANN.

    Attributes:
        module: the ``fx.GraphModule`` (its submodules are the copy's).
        shapes: per fx node with a tensor value, that value's shape for one sample.
        input_shape: shape of one input sample.
    """

    module: fx.GraphModule
    shapes: dict[fx.Node, tuple[int, ...]]
    input_shape: tuple[int, ...]

    @property
    def modules(self) -> dict[str, nn.Module]:
        return dict(self.module.named_modules())

    def where(self, node: fx.Node) -> str:
        """What a message names for ``node``: its module path and type, or its source line."""
        if node.op == "call_module":
            return f"{node.target} ({type(self.modules[node.target]).__name__})"
        return source_line(node)


def source_line(node: fx.Node) -> str:
    """Where the user's code made ``node``: its file and line followed by the source line in
    backquotes (``model.py:41`` and the code), from the last frame outside torch; the node's
    name when fx kept no stack."""
    frames = [m for m in _FRAME.finditer(node.stack_trace or "") if "/torch/" not in m["file"]]
    if not frames:
        return f"{node.name} ({node.op} {getattr(node.target, '__name__', node.target)})"
    f = frames[-1]
    return f"{f['file'].rsplit('/', 1)[-1]}:{f['line']} `{f['code'].strip()}`"


class _ShapeRecorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.shapes: dict[fx.Node, tuple[int, ...]] = {}
        self.result: object = None

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            self.shapes[n] = tuple(result.shape[1:]) if result.dim() else ()
        if n.op == "output":
            self.result = result
        return result


def float32_copy(model: nn.Module) -> nn.Module:
    """A float32 copy of ``model`` on the CPU in eval mode (float64 models are said so once)."""
    dtypes = {t.dtype for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()}
    ann = copy.deepcopy(model).cpu().eval()
    if dtypes - {torch.float32}:
        log.warning(
            "the model holds %s tensors; it is converted in float32",
            ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes - {torch.float32})),
        )
        ann = ann.float()
    return ann


def select_output(model: nn.Module, key: int | str) -> fx.GraphModule:
    """``model`` returning only ``out[key]`` of what it returns (a tuple, list or dict: a
    GoogLeNet's auxiliary outputs, a detector's heads), for ``convert`` (``output=``,
    ``--model-output``). The copy shares ``model``'s modules and keeps their names.

    Raises:
        ConversionError: fx cannot trace the model, or ``key`` picks nothing it returns."""
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx raises TraceError, TypeError, AssertionError …
        raise ConversionError(
            f"torch.fx cannot trace the model ({type(err).__name__}: {err})"
        ) from err
    out = next(n for n in graph.nodes if n.op == "output")
    result = out.args[0]
    keys = list(result) if isinstance(result, dict) else list(range(len(result)))
    if isinstance(result, fx.Node) or key not in keys:
        kind = (
            "dict" if isinstance(result, dict) else "tuple" if isinstance(result, tuple) else "list"
        )
        what = "one tensor" if isinstance(result, fx.Node) else f"{kind} {keys}"
        raise ConversionError(f"output {key!r}: the model returns {what}")
    chosen = result[key]
    if not isinstance(chosen, fx.Node):
        raise ConversionError(f"output {key!r} is {type(chosen).__name__}, not a tensor")
    out.args = (chosen,)
    module = fx.GraphModule(model, graph)
    module.graph.eliminate_dead_code()  # the other outputs' branches are not converted
    module.recompile()
    return module.eval()


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> Traced:
    """Trace ``model`` (a float32 CPU module in eval mode, used as it is) and the shape of
    every value it computes on inputs of ``input_shape``.

    Raises:
        ConversionError: fx cannot trace the model (data-dependent control flow).
        UserError: ``input_shape`` does not fit the network.
    """
    input_shape = tuple(int(d) for d in input_shape)
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx raises TraceError, TypeError, AssertionError … on dynamic code
        raise ConversionError(
            f"torch.fx cannot trace the model ({type(err).__name__}: {err}); its forward() "
            "must not branch on tensor values"
        ) from err
    module = fx.GraphModule(model, graph)
    recorder = _ShapeRecorder(module)
    probe = torch.zeros(PROBE_BATCH, *input_shape)
    try:
        with torch.no_grad():
            recorder.run(probe)
    except (RuntimeError, ValueError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"input_shape {input_shape} does not fit the network: {first}") from err
    return Traced(module, recorder.shapes, input_shape)
