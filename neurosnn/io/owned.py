"""Which existing files a run may replace: only one a neurosnn run of the same kind wrote.

A command writes more than its ``--out`` (a record's ``.csv`` and ``.snn.h5`` beside it, a
``config.yaml``, plots), and a name it writes may already hold a file of the user's: a
spreadsheet called ``x.csv``, notes saved as ``x.snn.h5``. Each kind of file neurosnn writes
is recognised by its content (an HDF5 file's ``format`` attribute, a CSV's header, a PNG's
signature …); anything else at such a name is refused, naming it, before it is replaced.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from neurosnn.errors import UserError

HDF5 = b"\x89HDF\r\n\x1a\n"
PNG = b"\x89PNG\r\n\x1a\n"
ZIP = b"PK\x03\x04"
# the first bytes of each kind of text file neurosnn writes
TEXT_STARTS = {".csv": "step,", ".yaml": "command:", ".md": "# "}


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _hdf5_format(path: Path) -> str | None:
    """The ``format`` attribute of an HDF5 file ("" without one), or None if unreadable."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "node" in f and "format" not in f.attrs:
                return "nir"
            value = f.attrs.get("format", "")
            return value.decode() if isinstance(value, bytes) else str(value)
    except (OSError, ValueError):
        return None


def foreign(path: str | Path, fmt: str | None = None) -> str | None:
    """What ``path`` holds if a neurosnn run may not replace it (``None``: missing, empty, or
    a file neurosnn writes under that name; ``fmt``: the HDF5 format the run writes)."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return f"a symbolic link (to {os.readlink(path)})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size == 0:
        return None
    head = _head(path)
    name = path.name
    if name.endswith((".h5", ".nir")):
        if not head.startswith(HDF5):
            return "not an HDF5 file"
        found = _hdf5_format(path)
        wanted = fmt or ("nir" if name.endswith(".nir") else None)
        if found is None:
            return "a damaged HDF5 file"
        if wanted is not None and found != wanted:
            return f"an HDF5 file of format {found or 'none'!r}, not {wanted!r}"
        if wanted is None and not found.startswith("neurosnn-"):
            return f"an HDF5 file of format {found or 'none'!r}, not one neurosnn writes"
        return None
    if name.endswith(".png"):
        return None if head.startswith(PNG) else "not a PNG image"
    if name.endswith(".pt"):
        return None if head.startswith(ZIP) else "not a torch file"
    if name.endswith(".json"):
        try:
            data = json.loads(path.read_text())
            return None if isinstance(data, (dict, list)) else "not a JSON object or list"
        except (UnicodeDecodeError, ValueError):
            return "not a JSON file"
    start = TEXT_STARTS.get(path.suffix)
    if start is not None:
        return None if head.startswith(start.encode()) else f"not a {path.suffix} neurosnn writes"
    return "a file neurosnn does not write under that name"


def check_replaceable(path: str | Path, fmt: str | None = None) -> None:
    """Raise ``UserError`` naming ``path`` unless a neurosnn run may replace it."""
    what = foreign(path, fmt)
    if what is not None:
        raise UserError(
            f"{path} exists and is {what}; a run replaces only files neurosnn wrote there: "
            "move it or choose another output"
        )
