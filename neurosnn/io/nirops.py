"""NIR operator nodes as torch modules: what reading a NIR file (``neurosnn.io.nirio``) and
preparing one for another simulator (``neurosnn.io.nirtargets``) both build."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from neurosnn.errors import UserError
from neurosnn.io.values import check_setting
from neurosnn.snn.synapses import ScaleShift


class NIRError(UserError):
    """A network NIR cannot hold, or a NIR graph neurosnn cannot run."""


def pair(v) -> tuple[int, int]:
    """An int or a pair (tuple, list, array) as a pair of ints."""
    v = np.atleast_1d(np.asarray(v)).astype(int).tolist()
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def import_op(nir, key: str, node) -> nn.Module:
    """The torch module of NIR operator node ``key`` (``Conv2d``, ``Affine``/``Linear``,
    ``AvgPool2d``, ``Flatten``, ``Scale``), its settings checked; ``NIRError`` for any other."""
    if isinstance(node, nir.Conv2d):
        for name in ("stride", "dilation", "groups"):
            check_setting(np.asarray(getattr(node, name)).tolist(), f"node {key} {name}")
        if not isinstance(node.padding, str):
            check_setting(np.asarray(node.padding).tolist(), f"node {key} padding", 0)
        w = torch.from_numpy(np.array(node.weight, np.float32))
        padding = node.padding if isinstance(node.padding, str) else pair(node.padding)
        conv = nn.Conv2d(
            w.shape[1] * int(node.groups),
            w.shape[0],
            tuple(w.shape[2:]),
            stride=pair(node.stride),
            padding=padding,
            dilation=pair(node.dilation),
            groups=int(node.groups),
        )
        return _with_weights(conv, w, node.bias)
    if isinstance(node, nir.Affine | nir.Linear):
        w = torch.from_numpy(np.array(node.weight, np.float32))
        bias = getattr(node, "bias", None)
        return _with_weights(nn.Linear(w.shape[1], w.shape[0], bias=bias is not None), w, bias)
    if isinstance(node, nir.AvgPool2d):
        return nn.AvgPool2d(pair(node.kernel_size), pair(node.stride), pair(node.padding))
    if isinstance(node, nir.Flatten):
        end = int(node.end_dim)
        return nn.Flatten(int(node.start_dim) + 1, end + 1 if end >= 0 else end)
    if isinstance(node, nir.Scale):
        return ScaleShift(torch.from_numpy(np.array(node.scale, np.float32)))
    raise NIRError(f"node {key}: {type(node).__name__} is not one neurosnn can run")


def _with_weights(module: nn.Module, weight: torch.Tensor, bias) -> nn.Module:
    with torch.no_grad():
        module.weight.copy_(weight)
        if bias is not None:
            module.bias.copy_(torch.from_numpy(np.array(bias, np.float32)))
    return module.requires_grad_(False)
