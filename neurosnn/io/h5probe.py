"""An HDF5 file read once in a child process before neurosnn reads it.

The HDF5 library itself is not safe on damaged files: a flipped byte in the heap of a
variable-length string (NIR's edge list, a record's names) can make it loop for ever or ask
for tens of terabytes and crash the process (a segmentation fault no Python code can catch),
both found by ``scripts/fuzz_readers.py``. So every file is first read whole, except its
contiguous numeric datasets (whose sizes the readers check against the file), by a child
process under a memory limit and a time limit; a child that crashes, hangs or runs out of
memory means a damaged file, refused in one line. Each file is probed once per process
(keyed by device, inode, size and modification time).

    python -m neurosnn.io.h5probe FILE   # exit status 0: the HDF5 library reads it
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

SECONDS = 20.0  # plus a second per 50 MB of file
MEMORY = 2**31  # bytes of address space the child may map (at least 64 × the file's size)
# the most a compressed dataset may expand (packed spikes of a silent layer compress ~100×);
# neurosnn.io.h5safe.check_size refuses more
EXPANSION = 4096
_probed: set[tuple[int, int, int, int]] = set()


NOT_HDF5 = 3  # the child's exit status when the library cannot open the file at all


def probe(path: Path) -> tuple[int, str] | None:
    """None if the HDF5 library reads ``path`` in a child process, else ``(status, what went
    wrong)``; status ``NOT_HDF5`` where it could not open it at all."""
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _probed:
        return None
    limit = max(MEMORY, 64 * st.st_size)
    seconds = SECONDS + st.st_size / 50e6

    def confine() -> None:  # in the child, before it runs Python
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, str(path)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds, preexec_fn=confine, env=env
        )
    except subprocess.TimeoutExpired:
        return 1, f"reading it did not finish in {seconds:.0f} s"
    if done.returncode < 0:
        return 1, f"reading it crashed the HDF5 library (signal {-done.returncode})"
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        return done.returncode, " ".join(lines[-1].split())[:300] if lines else "no message"
    _probed.add(key)
    return None


def read_all(path: str) -> None:
    """Every attribute and every dataset but the contiguous numeric ones, read; links to
    other files, external and virtual storage are not followed, and a dataset declaring more
    than ``EXPANSION`` times the file's size is not read (the readers refuse them all)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        print(err, file=sys.stderr)
        sys.exit(NOT_HDF5)
    most = EXPANSION * max(os.path.getsize(path), 1)
    with f:
        stack, seen = [f], set()
        while stack:
            obj = stack.pop()
            address = h5py.h5o.get_info(obj.id).addr
            if address in seen:
                continue
            seen.add(address)
            list(obj.attrs.values())
            if isinstance(obj, h5py.Group):
                links = {k: obj.get(k, getlink=True) for k in obj}
                stack.extend(obj[k] for k, link in links.items() if isinstance(link, h5py.HardLink))
            elif _worth_reading(obj, most):
                obj[()]


def _worth_reading(dataset, most: int) -> bool:
    if dataset.external or dataset.is_virtual or dataset.size * dataset.dtype.itemsize > most:
        return False
    return bool(dataset.chunks) or dataset.dtype.kind not in "biuf"


if __name__ == "__main__":
    sys.path.pop(0)  # not this folder (its names shadow the standard library's)
    read_all(sys.argv[1])
