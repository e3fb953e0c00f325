"""Write the small Fashion-MNIST subset shipped in data/ (used when the Debian package is absent).

python scripts/make_fmnist_subset.py /usr/share/datasets/fashion-mnist data/fashion-mnist-subset
"""

import gzip
import struct
import sys
from pathlib import Path

import numpy as np

from neurosnn.io.data import read_idx

N_TRAIN, N_TEST, SEED = 4000, 1000, 0


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = read_idx(src / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(src / f"{prefix}-labels-idx1-ubyte.gz")
        keep = np.sort(rng.choice(len(labels), size=n, replace=False))
        write_idx(dst / f"{prefix}-images-idx3-ubyte.gz", images[keep])
        write_idx(dst / f"{prefix}-labels-idx1-ubyte.gz", labels[keep])


if __name__ == "__main__":
    main()
