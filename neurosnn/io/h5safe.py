"""HDF5 files opened for reading as untrusted input: probed in a child process first
(``neurosnn.io.h5probe``), then walked with a stack for anything that reads another file, names
one object twice or declares more data than it stores, and read only as real, finite arrays.
Every HDF5 reader of neurosnn (run records, saved SNNs, NIR files) opens files through
``readable``; errors are one line naming the file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from neurosnn.errors import UserError
from neurosnn.io.h5probe import EXPANSION as MAX_EXPANSION
from neurosnn.io.values import check_values


def refuse_outside_references(root: h5py.Group, path: Path) -> None:
    """Raise naming the file and object where anything in it reads another file (an external
    link, a dataset stored in external raw files, a virtual dataset: neurosnn writes none) or
    declares more data than it stores (``check_size``), or names one object twice (a hard
    link: a group linked into itself would send a recursive reader round forever). The walk
    keeps a stack, not a recursion."""
    seen = {h5py.h5o.get_info(root.id).addr}
    stack: list[tuple[h5py.Group, str]] = [(root, "")]
    while stack:
        group, prefix = stack.pop()
        for name in group:
            where = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise UserError(
                    f"{path}: {where} is a link to {link.filename}; neurosnn reads no other file"
                )
            if isinstance(link, h5py.SoftLink):
                continue  # a name for an object of this file, met by its own name
            item = group[name]
            address = h5py.h5o.get_info(item.id).addr
            if address in seen:  # neurosnn and NIR write none; a cycle would never end
                raise UserError(
                    f"{path}: {where} is a second name of an object the file already holds "
                    "(a hard link); neurosnn reads no such file"
                )
            seen.add(address)
            if isinstance(item, h5py.Group):
                stack.append((item, where))
            elif isinstance(item, h5py.Dataset):
                if item.is_virtual or item.external:
                    raise UserError(
                        f"{path}: {where} takes its data from other files (a virtual or "
                        "external dataset); neurosnn reads no other file"
                    )
                check_size(item)


def read(ds: h5py.Dataset) -> np.ndarray:
    """A whole dataset, once its declared size is what the file can hold: an uncompressed
    dataset must store every byte it declares, a compressed one expand at most
    ``MAX_EXPANSION`` times (a crafted file declaring a terabyte is refused, naming it,
    before anything is allocated)."""
    check_size(ds)
    return check_values(ds[()], f"{ds.file.filename}: {ds.name}")


def check_size(ds: h5py.Dataset) -> None:
    """Raise naming the file and dataset when its declared size is more than it stores (see
    ``read``)."""
    declared = ds.size * ds.dtype.itemsize
    stored = ds.id.get_storage_size()
    if declared > (stored * MAX_EXPANSION if ds.compression else stored):
        raise UserError(
            f"{ds.file.filename}: {ds.name} declares {ds.shape} × {ds.dtype} ({declared:,} bytes) "
            f"but stores {stored:,}: the file is damaged or crafted"
        )


def check_self_contained(path: str | Path) -> None:
    """Raise ``neurosnn.errors.UserError`` if the HDF5 file ``path`` (a NIR file, read by
    the nir package) links to or stores data in other files."""
    readable(Path(path)).close()


def readable(path: Path) -> h5py.File:
    """``path`` opened for reading, once nothing in it reads another file and the HDF5 library
    has read it in a child process (``neurosnn.io.h5probe``); errors name it."""
    from neurosnn.io.h5probe import NOT_HDF5, probe

    problem = probe(path) if path.is_file() else None
    if problem and problem[0] == NOT_HDF5:
        raise UserError(f"{path} is not a readable HDF5 file: {problem[1]}")
    if problem:
        raise UserError(f"{path} is a damaged HDF5 file: {problem[1]}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise UserError(f"{path} is not a readable HDF5 file: {one_line(err)}") from err
    try:
        refuse_outside_references(f, path)
    except UserError:
        f.close()
        raise
    except DAMAGED as err:
        f.close()
        raise UserError(f"{path} is a damaged HDF5 file: {one_line(err)}") from err
    return f


# what h5py raises on a damaged file, depending on where the damage is met
DAMAGED = (KeyError, OSError, RuntimeError, ValueError, TypeError, IndexError, AttributeError)


def one_line(err: BaseException) -> str:
    """An exception's message on one line."""
    text = " ".join(str(err).split())
    return text[:300] or type(err).__name__
