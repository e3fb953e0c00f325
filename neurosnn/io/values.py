"""Checks on the numbers a file or a caller hands to neurosnn: arrays of real, finite values
and operator settings within their ranges, refused in one line naming what holds them (a NaN
weight would simulate to 0% without a word; a Conv2d with ``groups=0`` would divide by zero)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosnn.errors import UserError

# the largest kernel, stride, padding or channel count a setting may declare
MAX_SETTING = 2**20


def check_values(values: Any, what: str) -> np.ndarray:
    """``values`` as an array once they are real numbers (or booleans), finite where they are
    floats; raise ``UserError`` naming ``what`` otherwise (complex, text, objects, NaN, inf)."""
    a = np.asarray(values)
    if a.dtype.kind not in "biuf":
        raise UserError(f"{what} holds {a.dtype} values; expected real numbers")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise UserError(f"{what} holds values that are not finite (NaN or inf)")
    return a


def check_tensor(tensor: Any, what: str) -> None:
    """``check_values`` for a torch tensor of any dtype (bfloat16 included)."""
    import torch

    if tensor.is_complex():
        raise UserError(f"{what} holds {tensor.dtype} values; expected real numbers")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise UserError(f"{what} holds values that are not finite (NaN or inf)")


def check_setting(value: Any, what: str, least: int = 1, none: bool = False) -> None:
    """Raise ``UserError`` unless ``value`` is a whole number (or a list of them) in
    [``least``, ``MAX_SETTING``] (``none``: ``None`` allowed too)."""
    if value is None and none:
        return
    items = value if isinstance(value, list | tuple) else [value]
    for v in items:
        if (
            isinstance(v, bool)
            or not isinstance(v, int | np.integer)
            or not least <= v <= MAX_SETTING
        ):
            raise UserError(
                f"{what} is {value!r}; expected whole numbers from {least} to {MAX_SETTING}"
            )
