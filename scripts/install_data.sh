#!/usr/bin/env bash
# Install Debian's Fashion-MNIST (the original IDX files) when it is missing and we are root.
# Without it, the quickstart falls back to the subset shipped in data/fashion-mnist-subset.
set -u
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
