#!/usr/bin/env bash
# Every GPU check in one command (the device is lent for minutes, so nothing is left for later):
#   (a) the CUDA tests: tests/test_cuda.py (fast engine on cuda ≡ bindsnet on cuda, grouped
#       thresholds, the torch packer), tests/test_ifscan*.py (the Triton scan compiled, against
#       the step function and the engine against bindsnet) and tests/test_simulate.py;
#   (b) neurosnn bench on the paper's VGG15 (13 conv + 2 FC, full width, 3×32×32,
#       T = 100) at batch 32 and 256: fast fp32 (TF32 off: spike-exact), fast bf16, the step
#       loop, bindsnet's Network.run, SpikingJelly's multi-step IF, torch.compile of SNNModule
#       and the ANN-forward ceiling; the same engines but bf16 and SpikingJelly on ResNet-18
#       (full width, 3×32×32);
#       one threshold-search generation at the paper's CIFAR-10 setting (P = 25, E = 3,000,
#       T = 200);
#   (c) everything as JSON under OUT (device.json, tests.xml, bench/bench.json,
#       generation/bench.json,
#       summary.json); each step's output also in OUT/<step>.log.
# Sized to finish in under 8 minutes on one H100/H200. A machine without the internet installs
# SpikingJelly from a folder of wheels carried along: WHEELS=DIR (pip download --no-deps
# spikingjelly loguru -d DIR); without it the SpikingJelly rows are skipped.
#   scripts/gpu_check.sh OUT           # on a machine with CUDA
#   scripts/gpu_check.sh --tiny OUT    # the same steps on CPU at toy sizes (CI runs this)
set -uo pipefail
tiny=0
if [ "${1:-}" = "--tiny" ]; then tiny=1; shift; fi
out=${1:?usage: scripts/gpu_check.sh [--tiny] OUT}
mkdir -p "$out"
py=${PYTHON:-python}
if [ "$tiny" = 1 ]; then
  device=cpu
  net=(--net vgg5 --option width=0.125 --input-shape 1,8,8 --classes 4)
  resnet=(--net resnet20 --option width=0.25 --input-shape 1,8,8 --classes 4)
  bench=(--timesteps 4 --batch-size 2,4 --repeats 1)
  generation=(--timesteps 4 --batch-size 8 --population 5 --repeats 1)
  tests=(tests/test_cuda.py)
else
  device=cuda
  net=(--net vgg15 --input-shape 3,32,32)
  resnet=(--net resnet18 --input-shape 3,32,32)
  bench=(--timesteps 100 --batch-size 32,256 --repeats 3)
  generation=(--timesteps 200 --batch-size 3000 --population 25 --repeats 1)
  tests=(tests/test_cuda.py tests/test_ifscan.py tests/test_ifscan_cuda_build.py tests/test_simulate.py)
fi
if [ -n "${WHEELS:-}" ] && ! "$py" -c "import spikingjelly" 2>/dev/null; then
  "$py" -m pip install -q --no-index --find-links "$WHEELS" --no-deps spikingjelly loguru
fi
status=0
step() {  # step NAME COMMAND...: run, log, remember a failure, go on
  local name=$1; shift
  echo "=== $(date +%H:%M:%S) $name: $*"
  if ! "$@" > "$out/$name.log" 2>&1; then echo "    $name failed (see $out/$name.log)"; status=1; fi
  tail -n 4 "$out/$name.log"
}
step device "$py" -c "
import json, platform, torch
cuda = torch.cuda.is_available()
print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'python': platform.python_version(),
  'gpu': torch.cuda.get_device_name(0) if cuda else None, 'cpu_threads': torch.get_num_threads()}, indent=2))"
cp "$out/device.log" "$out/device.json"
step tests "$py" -m pytest -q -p no:cacheprovider "${tests[@]}" --junitxml "$out/tests.xml"
step bench "$py" -m experiments.bench_sim "${net[@]}" "${bench[@]}" --device "$device" \
  --engines reference,fast,fast-bf16,step,ceiling,spikingjelly,compiled --out "$out/bench"
step bench_resnet "$py" -m experiments.bench_sim "${resnet[@]}" "${bench[@]}" --device "$device" \
  --engines reference,fast,step,ceiling,compiled --out "$out/bench_resnet"
step generation "$py" -m experiments.bench_sim "${net[@]}" "${generation[@]}" --device "$device" \
  --engines generation --out "$out/generation"
step summary "$py" scripts/gpu_summary.py "$out"
cat "$out/summary.log"
exit $status
