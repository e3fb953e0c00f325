#!/usr/bin/env bash
# The NIR simulators neurosnn's files are checked against, each in its own environment under
# build/consumers/NAME (their pins conflict: sinabs needs nir <= 1.0.4, which nirtorch 2.x
# cannot read). Each environment reuses .venv's packages (torch, numpy, h5py, nir, neurosnn)
# through a .pth file and adds only the simulator and what it needs beyond them.
#   scripts/install_consumers.sh [.venv] [build/consumers]
set -euo pipefail
VENV=${1:-.venv}
ROOT=${2:-build/consumers}
PY="$VENV/bin/python"
SITE=$("$PY" -c "import site; print(site.getsitepackages()[0])")

declare -A PACKAGES=(
  [snntorch]="snntorch==1.0.0"
  [norse]="norse==1.1.0"
  [sinabs]="sinabs==3.1.3 pbr nir==1.0.4 nirtorch==1.0"
  [spikingjelly]="spikingjelly==2.0.0 loguru==0.7.3"
  [rockpool]="rockpool==3.1.0"
)
for name in "${!PACKAGES[@]}"; do
  env="$ROOT/$name"
  if [ -f "$env/.installed" ] && [ "$(cat "$env/.installed")" = "${PACKAGES[$name]}" ]; then
    continue
  fi
  rm -rf "$env"
  "$PY" -m venv --without-pip "$env"
  dest=$("$env/bin/python" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
  echo "import site; site.addsitedir('$(realpath "$SITE")')" > "$dest/neurosnn-venv.pth"
  # shellcheck disable=SC2086
  "$PY" -m pip --python "$env/bin/python" install -q --no-deps ${PACKAGES[$name]}
  echo "${PACKAGES[$name]}" > "$env/.installed"
  echo "consumers: $name (${PACKAGES[$name]}) in $env"
done
